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
# Which statuses a schema-valid request may get where the answer depends on more than the
# request (stored state, the clock): every check stays on.
CONFIG = Path(__file__).with_name("schemathesis.toml")


@pytest.fixture(scope="module")
def web(django_db_setup: None, django_db_blocker: Any) -> Iterator[Stack]:
    # Rate limits off: thousands of requests in a few minutes are the point here.
    with web_only(django_db_blocker, API_THROTTLE_USER_RATE="", API_THROTTLE_ANON_RATE="") as stack:
        yield stack


# ~7 min on 2 shared cores (~21,000 cases: the coverage phase sends every time zone of the enum to
# each body that takes one), over the suite's default 300 s.
@pytest.mark.timeout(900)
# Not yet, and not in the application: header values with control characters, which uvicorn's HTTP
# parser refuses with its own text/plain 400 before the app; and two stateful false positives of
# schemathesis 4.3.3 (use_after_free after a DELETE that itself failed, fixed upstream in #4067; a
# create replayed by Idempotency-Key whose task was deleted since). Remove when green.
@pytest.mark.xfail(strict=True, reason="the OpenAPI document does not yet say exactly what the server does")
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
    print(f"schemathesis: {elapsed:.0f} s")
    assert result.returncode == 0, result.stdout[-30000:]
