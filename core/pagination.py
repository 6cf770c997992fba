from __future__ import annotations

from rest_framework.exceptions import ValidationError
from rest_framework.pagination import LimitOffsetPagination as _LimitOffsetPagination
from rest_framework.request import Request


class LimitOffsetPagination(_LimitOffsetPagination):
    """`limit`/`offset` with a default page of 50 and a hard cap of 200 rows.

    Strict, as documented: a value that is not a whole number in range is a 400 naming it
    (DRF's own falls back to the default, so `?offset=null` answered the first page)."""

    default_limit = 50
    max_limit = 200

    def get_limit(self, request: Request) -> int:
        raw = request.query_params.get(self.limit_query_param)
        if raw is None:
            return self.default_limit
        return min(_whole_number(raw, self.limit_query_param, minimum=1), self.max_limit)

    def get_offset(self, request: Request) -> int:
        raw = request.query_params.get(self.offset_query_param)
        if raw is None:
            return 0
        return _whole_number(raw, self.offset_query_param, minimum=0)

    def get_schema_operation_parameters(self, view: object) -> list[dict]:
        parameters = super().get_schema_operation_parameters(view)
        minimum = {self.limit_query_param: 1, self.offset_query_param: 0}
        for parameter in parameters:
            parameter["schema"].update(minimum=minimum[parameter["name"]], maximum=MAXIMUM)
        return parameters


# 18 digits: any larger offset is past every table.
MAXIMUM = 10**18 - 1


def _whole_number(raw: str, name: str, *, minimum: int) -> int:
    # Digits only, as the schema's integer: no sign, spaces or "null".
    value = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 18 else -1
    if value < minimum:
        raise ValidationError({name: [f"{name} must be a whole number from {minimum} to {MAXIMUM}."]})
    return value
