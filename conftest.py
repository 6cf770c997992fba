"""Shared fixtures. The run's isolation and the embedded broker live in tests/harness/plugin.py."""

from __future__ import annotations

pytest_plugins = ["tests.fixtures"]
