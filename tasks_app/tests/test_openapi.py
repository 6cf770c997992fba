"""The OpenAPI schema: valid OpenAPI 3, documented for an LLM, and the API it describes holds up
against fuzzing from it (schemathesis: no 500, every response as documented)."""

from __future__ import annotations

import random
import re

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from drf_spectacular.validation import validate_schema
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from core.auth.tokens import issue_token
from tasks_app.services import task_create

OUR_PATHS = ("/api/v1/tasks/", "/api/v1/tags/")


@pytest.fixture
def openapi(client) -> dict:
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return response.json()


def our_operations(openapi: dict):
    for path, operations in openapi["paths"].items():
        if path.startswith(OUR_PATHS) and "occurrences" not in path:
            for method, operation in operations.items():
                yield path, method, operation


@pytest.mark.django_db
def test_schema_validates_as_openapi_3(openapi):
    assert openapi["openapi"].startswith("3.")
    validate_schema(openapi)  # raises on any violation of the OpenAPI 3 JSON schema


@pytest.mark.django_db
def test_every_parameter_and_error_is_described_with_an_example(openapi):
    operations = list(our_operations(openapi))
    assert len(operations) == 9
    for path, method, operation in operations:
        assert operation.get("description"), (path, method)
        for parameter in operation.get("parameters", []):
            assert parameter.get("description"), (path, method, parameter["name"])
            assert parameter.get("examples") or parameter.get("example") is not None, (path, method, parameter)
        for status_code, response in operation["responses"].items():
            assert response.get("description"), (path, method, status_code)
            if int(status_code) >= 400:
                assert response["content"]["application/json"].get("examples"), (path, method, status_code)
    list_parameters = {p["name"] for p in openapi["paths"]["/api/v1/tasks/"]["get"]["parameters"]}
    assert {"status", "priority", "tag", "q", "due_before", "due_after", "overdue", "recurring", "ordering"} <= (
        list_parameters
    )


@pytest.mark.django_db
def test_every_task_field_is_described_with_an_example(openapi):
    schemas = openapi["components"]["schemas"]
    for name in ("TaskInputRequest", "TaskOutput", "ReminderInputRequest", "ReminderOutput", "TagOutput", "ErrorBody"):
        for field, spec in schemas[name]["properties"].items():
            assert spec.get("description"), (name, field)
            # A reminder's example is of the whole: it takes one of its two fields, never both.
            assert "example" in spec or "example" in schemas[name], (name, field)


# --- Fuzzing ------------------------------------------------------------------------------------


@pytest.fixture
def api_schema(db, unthrottled):
    from todo_project.wsgi import application

    # As Django's test client does: the in-process WSGI calls must not close the test's
    # connection (it holds the test transaction) at the end of each request.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        schema = schemathesis.openapi.from_wsgi("/api/schema/?format=json", application)
        schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
        yield schema
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


lazy_schema = schemathesis.pytest.from_fixture("api_schema").include(
    path_regex=r"^/api/v1/(tasks|tags)/(\{task_id\}/((complete|reopen)/)?)?$"
)


@pytest.fixture
def fuzz_user(make_user):
    user = make_user("fuzzer")
    tasks = [task_create(owner=user, title=f"seed {index}") for index in range(3)]
    return user, [str(task.id) for task in tasks], issue_token(subject=user.username, email=user.email)


def call_as_fuzzer(case, fuzz_user) -> None:
    _, task_ids, token = fuzz_user
    if "task_id" in (case.path_parameters or {}) and random.random() < 0.7:  # mostly tasks that exist
        case.path_parameters["task_id"] = random.choice(task_ids)
    case.call_and_validate(
        headers={"Authorization": f"Bearer {token}"},
        checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance],
    )


# Random generation only (the explicit phase would add schemathesis' coverage cases: thousands of
# requests, run by the slow test below).
@lazy_schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    phases=[Phase.generate, Phase.shrink],
)
@pytest.mark.django_db
def test_fuzzing_the_api_finds_no_server_error_and_no_schema_violation(case, fuzz_user):
    call_as_fuzzer(case, fuzz_user)


_SUBSET_OF_OPTIONAL = re.compile(r"All required and (\d+) optional properties")


def is_a_wide_subset_of_optional_parameters(case) -> bool:
    """Schemathesis' coverage phase also sends the documented example values of every subset of
    an operation's optional query parameters: 2,034 requests for the task list's eleven, four
    fifths of this test's requests (35 s). Each filter alone, all of them together (the example)
    and every pair of them are still sent; the wider subsets repeat the same valid values."""
    match = _SUBSET_OF_OPTIONAL.fullmatch(getattr(case.meta.phase.data, "description", "") or "")
    return match is not None and int(match.group(1)) > 2


# The documented examples and schemathesis' boundary/coverage cases of every parameter and field.
@pytest.mark.slow
@lazy_schema.parametrize()
@settings(max_examples=1, deadline=None, suppress_health_check=list(HealthCheck), phases=[Phase.explicit])
@pytest.mark.django_db
def test_schema_examples_and_boundary_cases_find_no_server_error(case, fuzz_user):
    if is_a_wide_subset_of_optional_parameters(case):
        return
    call_as_fuzzer(case, fuzz_user)
