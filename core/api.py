from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.query import DocumentedQueryMixin


class MeApi(DocumentedQueryMixin, APIView):
    """Who the bearer token belongs to: lets a client check its token and learn its user id."""

    @extend_schema(
        summary="The authenticated user",
        responses={
            200: inline_serializer(
                "Me",
                {
                    "id": serializers.IntegerField(help_text="user id, as in events' `userid`"),
                    "username": serializers.CharField(help_text="the token's `sub` claim"),
                    # Not `format: email`: a user provisioned from a token without an `email` claim has "".
                    "email": serializers.CharField(allow_blank=True, help_text='e-mail address, or "" when unknown'),
                    "is_staff": serializers.BooleanField(),
                },
            ),
            401: OpenApiResponse(
                OpenApiTypes.OBJECT,
                description='Missing, invalid or expired bearer token: {"error": {"code", "message", "request_id"}}.',
            ),
        },
    )
    def get(self, request: Request) -> Response:
        user = request.user
        return Response({"id": user.pk, "username": user.username, "email": user.email, "is_staff": user.is_staff})
