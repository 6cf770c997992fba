"""Every API error has one JSON shape, including 404s and unexpected 500s under /api/."""

from __future__ import annotations

from typing import Any

import pytest
from django.http import HttpRequest
from django.test import Client
from django.urls import include, path
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import ApplicationError


class _Input(serializers.Serializer):
    title = serializers.CharField(max_length=5)


class _ValidatingApi(APIView):
    authentication_classes: list = []
    permission_classes: list = []

    def post(self, request: Request) -> Response:
        _Input(data=request.data).is_valid(raise_exception=True)
        return Response({})


class _ConflictApi(APIView):
    authentication_classes: list = []
    permission_classes: list = []

    def get(self, request: Request) -> Response:
        raise ApplicationError("That clashes.", code="conflict", status=409)


def _crash(request: HttpRequest) -> Any:
    raise RuntimeError("boom")


urlpatterns = [
    path("api/test/validate/", _ValidatingApi.as_view()),
    path("api/test/conflict/", _ConflictApi.as_view()),
    path("api/test/crash/", _crash),
    path("", include("todo_project.urls")),
]
handler404 = "core.errors.handler404"
handler500 = "core.errors.handler500"


@pytest.fixture(autouse=True)
def _test_urls(settings: Any) -> None:
    settings.ROOT_URLCONF = __name__


@pytest.mark.django_db
def test_validation_errors_have_field_messages() -> None:
    response = Client().post("/api/test/validate/", {"title": "much too long"}, content_type="application/json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["fields"] == {"title": ["Ensure this field has no more than 5 characters."]}
    assert error["request_id"] == response["X-Request-ID"]


def test_malformed_json_is_a_400_in_the_error_shape() -> None:
    response = Client().post("/api/test/validate/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "bad_request"


def test_application_errors_keep_their_status_and_code() -> None:
    response = Client().get("/api/test/conflict/")
    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "conflict",
        "message": "That clashes.",
        "request_id": response["X-Request-ID"],
    }


def test_unknown_api_path_is_a_json_404() -> None:
    response = Client().get("/api/v1/no-such-thing/")
    assert response.status_code == 404
    assert response["Content-Type"] == "application/json"
    assert response.json()["error"]["code"] == "not_found"


def test_unexpected_exception_under_api_is_a_json_500(settings: Any) -> None:
    settings.DEBUG = False
    client = Client(raise_request_exception=False)
    response = client.get("/api/test/crash/")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "server_error"
    assert "boom" not in response.content.decode()


def test_unsupported_media_type_is_in_the_error_shape() -> None:
    response = Client().post("/api/test/validate/", "title=x", content_type="application/x-www-form-urlencoded")
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"
