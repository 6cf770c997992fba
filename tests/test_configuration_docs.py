"""Every variable the code reads is documented with its default in .env.example and the README."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def example_variables() -> set[str]:
    return {
        line.split("=", 1)[0].strip()
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#") and "=" in line
    }


def variables_read_by_the_code() -> set[str]:
    pattern = re.compile(
        r"""(?:env\.(?:str|int|bool|float|list|dict|path|db_url)|secret|os\.environ\.get|getenv)\(\s*["']([A-Z][A-Z0-9_]+)["']"""
    )
    names: set[str] = set()
    for path in [
        ROOT / "todo_project" / "settings.py",
        *ROOT.glob("*/management/commands/*.py"),
        ROOT / "core" / "tracing.py",
        ROOT / "kafka_bridge" / "lag_exporter.py",
        ROOT / "core" / "metrics_server.py",
    ]:
        if path.exists():
            names |= set(pattern.findall(path.read_text()))
    shell = "\n".join(path.read_text() for path in (ROOT / "docker" / "entrypoint").iterdir())
    names |= set(re.findall(r"\$\{([A-Z][A-Z0-9_]+):-", shell))
    # Set by the test harness and benchmarks only, or by the platform.
    return names - {
        "TEST_DATABASE_NAME",
        "TEST_RUN_ID",
        "HOST",
        "KAFKA_BRIDGE_TEST_CONSUMERS",
        "KAFKA_BRIDGE_TEST_TOPICS",
        "KAFKA_BRIDGE_TEST_GROUP",
        "DJANGO_SETTINGS_MODULE",
        "TMPDIR",
    }


def test_every_variable_the_code_reads_is_in_env_example() -> None:
    assert sorted(variables_read_by_the_code() - example_variables()) == []


def test_every_variable_of_env_example_is_in_the_readme_configuration_table() -> None:
    readme = (ROOT / "README.md").read_text()
    assert sorted(name for name in example_variables() if f"| `{name}` |" not in readme) == []
