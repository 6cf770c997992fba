"""Validates an AsyncAPI document with the official parser (npm `@asyncapi/parser`, pinned), installing it once.

    python scripts/asyncapi_parser.py DOCUMENT.json

prints the parser's diagnostics as a JSON list (`severity`: 0 error, 1 warning, 2 information,
3 hint) and exits 1 if any has severity error. The parser is installed with npm (node 20) into
ASYNCAPI_PARSER_DIR (default ~/.cache/todo-backend/asyncapi-parser-<version>/), once: a file
lock serialises concurrent runs, and an existing install of the pinned version is reused.
"""

from __future__ import annotations

import fcntl
import json
import os
import subprocess
import sys
from pathlib import Path

VERSION = "3.6.6"
PACKAGE = f"@asyncapi/parser@{VERSION}"
NPM_TIMEOUT_SECONDS = 600

# Reads the document from argv[2]; prints the diagnostics (CommonJS, so NODE_PATH resolves it).
VALIDATE_JS = """
const fs = require("fs");
const { Parser } = require("@asyncapi/parser");
new Parser()
  .parse(fs.readFileSync(process.argv[2], "utf8"))
  .then(({ diagnostics }) => {
    const out = diagnostics.map((d) => ({ severity: d.severity, code: d.code, message: d.message, path: d.path }));
    process.stdout.write(JSON.stringify(out));
  })
  .catch((error) => {
    process.stderr.write(String((error && error.stack) || error));
    process.exit(2);
  });
"""


def install_dir() -> Path:
    default = Path.home() / ".cache" / "todo-backend" / f"asyncapi-parser-{VERSION}"
    return Path(os.environ.get("ASYNCAPI_PARSER_DIR", default))


def _installed(directory: Path) -> bool:
    manifest = directory / "node_modules" / "@asyncapi" / "parser" / "package.json"
    try:
        return json.loads(manifest.read_text())["version"] == VERSION
    except (OSError, ValueError, KeyError):
        return False


def ensure_parser() -> Path:
    """The install directory, with the pinned parser installed (idempotent, under a lock)."""
    directory = install_dir()
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not _installed(directory):
            (directory / "package.json").write_text(json.dumps({"private": True, "name": "asyncapi-parser-cache"}))
            subprocess.run(
                ["npm", "install", "--no-audit", "--no-fund", "--save-exact", PACKAGE],
                cwd=directory,
                check=True,
                timeout=NPM_TIMEOUT_SECONDS,
                stdout=sys.stderr,
            )
        (directory / "validate.cjs").write_text(VALIDATE_JS)
    return directory


def diagnostics(document_path: Path) -> list[dict]:
    directory = ensure_parser()
    result = subprocess.run(
        ["node", str(directory / "validate.cjs"), str(document_path)],
        env={**os.environ, "NODE_PATH": str(directory / "node_modules")},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"the AsyncAPI parser failed: {result.stderr.strip()}")
    return json.loads(result.stdout)


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    found = diagnostics(Path(sys.argv[1]))
    print(json.dumps(found, indent=2))
    return 1 if any(item["severity"] == 0 for item in found) else 0


if __name__ == "__main__":
    sys.exit(main())
