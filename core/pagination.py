from rest_framework.pagination import LimitOffsetPagination as _LimitOffsetPagination


class LimitOffsetPagination(_LimitOffsetPagination):
    """`limit`/`offset` with a default page of 50 and a hard cap of 200 rows."""

    default_limit = 50
    max_limit = 200
