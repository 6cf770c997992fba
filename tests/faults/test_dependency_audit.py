"""Dependency audit: `pip-audit` over the pinned requirements (requirements/base.txt, included by
requirements/dev.txt). Findings are fixed by bumping the pin where a fixed version exists, or
explained one by one in tests/faults/AUDIT.md (the test accepts exactly the ids listed there).

`manage.py check --deploy` in production settings is core/tests/test_production_settings.py.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

from tests.fixtures import ROOT

pytestmark = pytest.mark.slow

AUDIT_NOTES = ROOT / "tests" / "faults" / "AUDIT.md"


def explained_ids() -> set[str]:
    """Vulnerability ids listed in AUDIT.md as `- **<id>** (package x.y.z): why ...`."""
    return set(re.findall(r"^- \*\*([A-Za-z0-9-]+)\*\*", AUDIT_NOTES.read_text(), flags=re.MULTILINE))


def vulnerability_service_reachable() -> str | None:
    """None if PyPI's JSON API (where pip-audit reads vulnerabilities) answers for a package
    that certainly exists; else why not. Saves pip-audit's per-package retries when offline."""
    try:
        with urllib.request.urlopen("https://pypi.org/pypi/pip-audit/2.10.1/json", timeout=10):
            return None
    except (urllib.error.URLError, OSError) as exc:
        return f"https://pypi.org/pypi/<name>/<version>/json: {exc}"


def test_pinned_dependencies_have_no_unexplained_known_vulnerability(figures) -> None:
    unreachable = vulnerability_service_reachable()
    if unreachable:
        pytest.skip(f"PyPI's vulnerability data is unreachable from here ({unreachable}); see tests/faults/AUDIT.md")
    result = subprocess.run(
        [
            sys.executable, "-m", "pip_audit", "-r", "requirements/dev.txt", "--no-deps",
            "--progress-spinner", "off", "--format", "json", "--timeout", "20",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )  # fmt: skip
    start = result.stdout.find("{")
    if start < 0:
        pytest.skip(f"pip-audit could not run (the vulnerability service unreachable?): {result.stderr[-300:]}")
    report = json.loads(result.stdout[start:])
    dependencies = report["dependencies"]
    unaudited = [dep for dep in dependencies if dep.get("skip_reason")]
    if dependencies and len(unaudited) == len(dependencies):
        pytest.skip(
            "PyPI's vulnerability data is unreachable from here (every package skipped: "
            f"{unaudited[0]['skip_reason']}); see tests/faults/AUDIT.md"
        )
    findings = {vuln["id"]: f"{dep['name']} {dep['version']}" for dep in dependencies for vuln in dep.get("vulns", [])}
    figures.record(
        audited=len(dependencies) - len(unaudited),
        not_audited=len(unaudited),
        findings=len(findings),
        unexplained=sorted(set(findings) - explained_ids()),
    )
    assert set(findings) <= explained_ids(), {k: v for k, v in findings.items() if k not in explained_ids()}
