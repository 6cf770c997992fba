"""No logging `extra` key in production code may collide with a LogRecord attribute.

`Logger.makeRecord` raises KeyError for such a key, but only when the level is enabled: a call
that is silent at WARNING (the suite's level) crashes at INFO (production's). This test reads every
production module instead of waiting for the call to run at the right level.

It reads the shapes our code uses: `extra={...}` literals, `extra=helper(key=...)` where the helper
in the same module returns a dict literal (the runner's `self._log(**extra)`), and the per-line
dicts of an EACH_LINE list (core/logging.py). Any other `extra` fails the test as unreadable, so a
new shape is taught to this scan rather than slipping past it.
"""

from __future__ import annotations

import ast
import io
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.logging import EACH_LINE, JsonFormatter

ROOT = Path(__file__).resolve().parents[2]
NOT_PRODUCTION = {"tests", "bench"}
LOG_METHODS = {"debug", "info", "warning", "warn", "error", "exception", "critical", "fatal", "log"}


def production_modules() -> list[Path]:
    """Every module of the project's packages (DESIGN.md section 2), test modules excepted."""
    packages = [p.parent for p in ROOT.glob("*/__init__.py") if p.parent.name not in NOT_PRODUCTION]
    return sorted(
        path
        for package in packages
        for path in package.rglob("*.py")
        if "tests" not in path.relative_to(ROOT).parts and "migrations" not in path.parts
    )


def refused_by_make_record(key: str) -> bool:
    """Whether a real Logger refuses `key` in `extra` (it protects every LogRecord attribute, and
    `message`/`asctime`, which the Formatter sets)."""
    try:
        logging.getLogger(__name__).makeRecord(__name__, logging.INFO, __file__, 1, "m", (), None, extra={key: 1})
    except KeyError:
        return True
    return False


def formatter_fields() -> set[str]:
    """The fields the production formatter writes on every line, whatever the record carries."""
    record = logging.LogRecord(__name__, logging.INFO, __file__, 1, "m", (), None)
    return set(json.loads(JsonFormatter().format(record)))


# An EACH_LINE item's keys overwrite the line's own fields, not the record's: a key like
# `level` or `message` would silently replace them. Its own correlation id is what EACH_LINE is for.
EACH_LINE_MAY_SET = {"correlation_id"}


@dataclass(frozen=True)
class Key:
    name: str
    where: str
    each_line: bool = False


class Unreadable(Exception):
    pass


class _Module:
    def __init__(self, path: Path, source: str) -> None:
        self.path = path
        self.tree = ast.parse(source)
        self.functions: dict[str, list[ast.FunctionDef | ast.AsyncFunctionDef]] = {}
        for node in ast.walk(self.tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                self.functions.setdefault(node.name, []).append(node)

    def where(self, node: ast.AST) -> str:
        return f"{self.path}:{getattr(node, 'lineno', '?')}"

    def logging_calls(self) -> Iterator[tuple[ast.Call, ast.expr]]:
        for node in ast.walk(self.tree):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in LOG_METHODS:
                for keyword in node.keywords:
                    if keyword.arg == "extra":
                        yield node, keyword.value

    def keys(self, extra: ast.expr, *, helper_kwargs: str | None = None) -> Iterator[Key]:
        if isinstance(extra, ast.Dict):
            yield from self._dict_keys(extra, helper_kwargs=helper_kwargs)
        elif isinstance(extra, ast.Call) and helper_kwargs is None:
            yield from self._helper_keys(extra)
        else:
            raise Unreadable(f"{self.where(extra)}: `extra` is neither a dict literal nor a helper call")

    def _dict_keys(self, node: ast.Dict, *, helper_kwargs: str | None) -> Iterator[Key]:
        for key, value in zip(node.keys, node.values, strict=True):
            if key is None:  # `**name`: only a helper's own **kwargs, whose keys its callers give
                if isinstance(value, ast.Name) and value.id == helper_kwargs:
                    continue
                raise Unreadable(f"{self.where(value)}: `**` of something other than the helper's **kwargs")
            if isinstance(key, ast.Name) and key.id == "EACH_LINE":
                yield Key(EACH_LINE, self.where(key))
                for item in self._each_line_items(value):
                    yield from (Key(k.name, k.where, each_line=True) for k in self._dict_keys(item, helper_kwargs=None))
            elif isinstance(key, ast.Constant) and isinstance(key.value, str):
                yield Key(key.value, self.where(key))
            else:
                raise Unreadable(f"{self.where(key)}: an `extra` key that is not a string literal")

    def _each_line_items(self, value: ast.expr) -> Iterator[ast.Dict]:
        if isinstance(value, ast.ListComp | ast.GeneratorExp) and isinstance(value.elt, ast.Dict):
            yield value.elt
        elif isinstance(value, ast.List) and all(isinstance(item, ast.Dict) for item in value.elts):
            yield from (item for item in value.elts if isinstance(item, ast.Dict))
        else:
            raise Unreadable(f"{self.where(value)}: an EACH_LINE value that is not a list of dict literals")

    def _helper_keys(self, call: ast.Call) -> Iterator[Key]:
        func = call.func
        name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None
        helpers = self.functions.get(name or "", [])
        if len(helpers) != 1:
            raise Unreadable(f"{self.where(call)}: `extra` built by {name!r}, not one function of this module")
        helper = helpers[0]
        for keyword in call.keywords:
            if keyword.arg is None:
                raise Unreadable(f"{self.where(call)}: `**` in the arguments of {name!r}")
            yield Key(keyword.arg, self.where(keyword))
        if call.args:
            raise Unreadable(f"{self.where(call)}: positional arguments to {name!r}")
        kwargs = helper.args.kwarg.arg if helper.args.kwarg else None
        returns = [node for node in ast.walk(helper) if isinstance(node, ast.Return)]
        if not returns:
            raise Unreadable(f"{self.where(helper)}: {name!r} returns nothing readable")
        for node in returns:
            if node.value is None:
                raise Unreadable(f"{self.where(node)}: {name!r} returns nothing readable")
            yield from self.keys(node.value, helper_kwargs=kwargs)


def scan(path: Path, source: str) -> tuple[int, list[Key]]:
    """(the number of logging calls with `extra`, their keys)."""
    module = _Module(path, source)
    calls = list(module.logging_calls())
    return len(calls), [key for _, extra in calls for key in module.keys(extra)]


def collisions(keys: list[Key]) -> list[str]:
    line_fields = formatter_fields() - EACH_LINE_MAY_SET
    found = []
    for key in keys:
        if refused_by_make_record(key.name):
            found.append(f"{key.where}: {key.name!r} is a LogRecord attribute")
        elif key.each_line and key.name in line_fields:
            found.append(f"{key.where}: {key.name!r} would replace the line's own field")
    return list(dict.fromkeys(found))  # a helper's keys are read once per call of it


def test_no_logging_extra_key_in_production_code_collides_with_a_log_record_attribute() -> None:
    calls, keys, problems = 0, [], []
    for path in production_modules():
        try:
            found_calls, found_keys = scan(path.relative_to(ROOT), path.read_text())
        except Unreadable as exc:
            problems.append(str(exc))
            continue
        calls += found_calls
        keys += found_keys

    assert not problems, "\n".join(problems)
    assert calls > 20, "the scan found (almost) no logging calls: is it reading the right files?"
    assert not collisions(keys), "\n".join(collisions(keys))


EVERY_SHAPE = """
import logging
from core.logging import EACH_LINE
logger = logging.getLogger(__name__)

class Runner:
    def _log(self, **extra):
        return {"name": "consumer", **extra}

    def run(self):
        logger.info("a literal", extra={"created": 1})
        logger.warning("a helper's kwargs", extra=self._log(lineno=2))
        logger.log(logging.INFO, "each line", extra={EACH_LINE: [{"level": row} for row in rows]})
        logger.info("fine", extra={"rows": 1})
"""


def test_the_scan_finds_a_collision_in_every_shape_of_extra() -> None:
    calls, keys = scan(Path("example.py"), EVERY_SHAPE)

    assert calls == 4
    assert collisions(keys) == [
        "example.py:11: 'created' is a LogRecord attribute",
        "example.py:12: 'lineno' is a LogRecord attribute",
        "example.py:8: 'name' is a LogRecord attribute",
        "example.py:13: 'level' would replace the line's own field",
    ]


@pytest.mark.parametrize(
    "extra",
    [
        "extra=values",
        "extra=dict(a=1)",
        "extra={name: 1}",
        "extra={**values}",
        "extra={EACH_LINE: rows}",
        "extra=unknown_helper(a=1)",
    ],
)
def test_an_extra_the_scan_cannot_read_fails_it(extra: str) -> None:
    with pytest.raises(Unreadable):
        scan(Path("example.py"), f"logger.info('m', {extra})\n")


def test_a_colliding_extra_key_really_crashes_an_info_call() -> None:
    """What the scan prevents: the KeyError of `purge_audit --dry-run` at LOG_LEVEL=INFO."""
    logger = logging.getLogger("core.tests.collision")
    handler = logging.StreamHandler(io.StringIO())
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with pytest.raises(KeyError, match="Attempt to overwrite 'created' in LogRecord"):
            logger.info("audit retention", extra={"created": []})
    finally:
        logger.removeHandler(handler)
        logger.setLevel(logging.NOTSET)
