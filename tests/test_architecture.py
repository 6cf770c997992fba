"""The one-way architecture (DESIGN.md section 2): the import contracts hold, and they catch a
lower layer importing a higher one, even lazily, and one consumer app importing another."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def root_packages() -> list[str]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return config["tool"]["importlinter"]["root_packages"]


def test_the_import_contracts_hold() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "broken" not in result.stdout.lower().replace("0 broken", "")


@pytest.fixture
def tree_with_probes(tmp_path: Path) -> Path:
    """A copy of the project's import graph: the packages linked, except the two that receive a
    probe module, which are copied (without their tests)."""
    probed = {"tasks_app", "audit_app"}
    for name in root_packages():
        if name in probed:
            shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("tests", "__pycache__"))
        else:
            (tmp_path / name).symlink_to(ROOT / name)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_contracts_catch_a_lazy_upward_import_and_a_sideways_one(tree_with_probes: Path) -> None:
    (tree_with_probes / "tasks_app" / "layer_probe.py").write_text(
        "def publish():\n    from kafka_bridge import topics  # noqa: F401\n"
    )
    (tree_with_probes / "audit_app" / "layer_probe.py").write_text("import sync_app.models  # noqa: F401\n")

    result = lint_imports(tree_with_probes)

    assert result.returncode != 0, result.stdout
    assert "tasks_app.layer_probe -> kafka_bridge.topics" in result.stdout, result.stdout
    assert "audit_app.layer_probe -> sync_app.models" in result.stdout, result.stdout
