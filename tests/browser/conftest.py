"""Chromium for the browser tests: one per test, its network shut off except loopback."""

from __future__ import annotations

import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.browser.chromium import CHROMIUM, Chromium, non_loopback_address, server_on
from tests.fixtures import ManagedProcesses

if not os.path.exists(CHROMIUM):
    pytest.skip("needs Debian's chromium (scripts/ensure_system_packages.sh)", allow_module_level=True)


@pytest.fixture
def browser(processes: ManagedProcesses, tmp_path: Path) -> Iterator[Chromium]:
    chromium = Chromium(processes, tmp_path / "chromium-profile")
    try:
        yield chromium
    finally:
        chromium.close()


def assert_only_loopback_reachable(browser: Chromium) -> None:
    """The lockdown works on this machine: a server of ours on a non-loopback address answers
    this process, and the browser cannot reach it. (Without such an address, nothing to prove.)"""
    address = non_loopback_address()
    if address is None:
        return
    with server_on(address) as url:
        with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 - our own http URL
            assert response.read() == b"reachable"
        error = browser.open(url)
    assert error.startswith("net::ERR_"), f"the browser reached {url}: the network is not shut off"
