"""The OpenAPI document says exactly what the server does: schemathesis with every check and
every phase (examples, coverage, fuzzing, stateful) against a real uvicorn finds nothing."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from core.auth.tokens import issue_token
from sync_app.tests.e2e import Stack, web_only
from tasks_app.services import task_create
from tests.fixtures import LOG_DIR

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"
# Which statuses a request may get where the answer depends on more than the request (stored
# state, the clock): every check stays on.
CONFIG = Path(__file__).with_name("schemathesis.toml")


@pytest.fixture(scope="module")
def web(django_db_setup: None, django_db_blocker: Any) -> Iterator[Stack]:
    # Rate limits off: thousands of requests in a few minutes are the point here.
    with web_only(django_db_blocker, API_THROTTLE_USER_RATE="", API_THROTTLE_ANON_RATE="") as stack:
        yield stack


# ~1.5 min on 2 shared cores with schemathesis 4.32 (~4,200 cases; two thirds of the time is the
# coverage phase sending every time zone of the enum to each of the four bodies that take one);
# room for a loaded machine beyond the suite's default 300 s.
# Its blind spot: a 400 to a schema-valid task or preview body passes (schemathesis.toml allows it
# for the rules a schema cannot state), so a constraint missing from those bodies' schema is not
# found here: tasks_app/tests/test_api_contract.py checks their `additionalProperties: false`.
@pytest.mark.timeout(900)
def test_schemathesis_with_every_check_and_every_phase_finds_no_failure(web, make_user):
    user = make_user("contract")
    for index in range(2):  # something to read, update and delete besides what the stateful phase creates
        task_create(owner=user, title=f"seed {index}")
    token = issue_token(subject=user.username, email=user.email)
    report = LOG_DIR / "schemathesis"
    started = time.monotonic()
    result = subprocess.run(
        [
            str(SCHEMATHESIS),
            "--config-file",
            str(CONFIG),
            "run",
            f"{web.base}/api/schema/?format=json",
            "--checks",
            "all",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--mode",
            "all",
            "--max-examples",
            "30",
            "--seed",
            "23",
            "--header",
            f"Authorization: Bearer {token}",
            "--no-color",
            "--report",
            "junit",
            "--report-dir",
            str(report),
        ],
        capture_output=True,
        text=True,
        timeout=840,
        check=False,
    )
    elapsed = time.monotonic() - started
    report.mkdir(parents=True, exist_ok=True)
    (report / "output.txt").write_text(result.stdout)
    print(f"schemathesis: {elapsed:.0f} s; its output: {report / 'output.txt'}")
    assert result.returncode == 0, result.stdout[-30000:]
