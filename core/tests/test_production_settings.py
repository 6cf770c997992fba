"""Production mode refuses unsafe configuration and passes `check --deploy`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GOOD_SECRET = "q8Zr-3vL!pW0s_Tn9yXe2@kBm5Hc7Uj4Ad6Gf1Ri%Yo8Ne3Sw0Qb"


def run_check(**env: str) -> subprocess.CompletedProcess[str]:
    environment = {key: value for key, value in os.environ.items() if key not in {"SECRET_KEY", "DEBUG"}}
    environment.update(DJANGO_ENV="production", ALLOWED_HOSTS="todo.example.com", JWT_SIGNING_KEY="k" * 40)
    environment.update(env)
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_production_without_secret_key_refuses_to_start() -> None:
    result = run_check()
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_with_the_development_secret_key_refuses_to_start() -> None:
    result = run_check(SECRET_KEY="dev-insecure-secret-key-do-not-use-in-production")
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr


def test_production_with_debug_on_refuses_to_start() -> None:
    result = run_check(SECRET_KEY=GOOD_SECRET, DEBUG="true")
    assert result.returncode != 0
    assert "DEBUG" in result.stderr


def test_production_settings_pass_check_deploy(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text(GOOD_SECRET + "\n")
    result = run_check(SECRET_KEY_FILE=str(secret_file))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_database_url_may_come_from_a_file(tmp_path: Path) -> None:
    url_file = tmp_path / "database_url"
    url_file.write_text("postgres://app:s3cret@db.internal:6543/todo_prod\n")
    environment = dict(os.environ, DATABASE_URL_FILE=str(url_file))
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from django.conf import settings; d = settings.DATABASES['default'];"
            "print(d['HOST'], d['PORT'], d['NAME'], d['USER'], d['PASSWORD'])",
        ],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["db.internal", "6543", "todo_prod", "app", "s3cret"]
