"""One load-client process of scenario 10 ("10k users"): holds the `/ws/sync/` sockets of its
share of the users and acts for them over REST, as the chatbot does, at the rate each step asks.

    python -m bench.userload --port PORT --users users.json --dir DIR [--http-connections 32] [--sockets K]

`users.json`: `[[user id, token, [open task ids]], ...]`; the first `--sockets` users (default: all)
hold a socket, every user may be acted for. Once every socket is `ready` it writes
`DIR/ready.json`; then it runs each `DIR/step-<k>.json` as it appears (`rate`, `seconds`, `mode`:
"mix" or "me", `start_at` (epoch seconds), `grace`) and answers with `DIR/result-<k>.json`;
`DIR/stop` ends it.

Open loop: action i is due at `start_at + i / rate` whatever the answers before it, and takes a
free keep-alive connection (raw asyncio streams, `bench.httpload`), waiting for one when all are
busy; its REST latency counts from when it was due, so a slow server is not hidden by the client
sending less. Write → frame: from when the request was sent until the owner's socket gets the
frame that the write's answer names (type, task id, version; `task.deleted`: type and id). Task
titles end in ` u<owner id>`, so a frame on another user's socket is seen as misdelivered.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from bench.httpload import _read_response, request_bytes
from bench.wsclient import Stats, open_all

# The chatbot's mix (issue 24): list/search 50 %, create 20 %, update 15 %, complete 10 %, delete 5 %.
MIX = (("list", 25), ("search", 25), ("create", 20), ("update", 15), ("complete", 10), ("delete", 5))
WORDS = ("report", "plants", "dentist", "groceries", "invoice", "passport", "birthday", "meeting")
TAGS = ("work", "home", "errands")
PRIORITIES = ("low", "medium", "high")
REQUEST_TIMEOUT_SECONDS = 30.0
# uvicorn closes a keep-alive connection idle for 5 s: one idle longer is not reused, as HTTP
# clients do (a request sent as the server closes it would fail without reaching the app).
KEEPALIVE_REUSE_SECONDS = 4.0
WRITES = ("create", "update", "complete", "delete")


def owner_of(title: str) -> int | None:
    """The user id a task title names (` u<id>` at its end), None if it names none."""
    _, _, tail = title.rpartition(" u")
    return int(tail) if tail.isdigit() else None


def title_for(user_id: int) -> str:
    return f"{random.choice(WORDS)} {random.choice(WORDS)} u{user_id}"


@dataclass
class Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    last_used: float = field(default_factory=time.monotonic)


@dataclass
class User:
    user_id: int
    token: str
    open_tasks: list[str]
    busy: set[str] = field(default_factory=set)  # tasks with an action in flight: never two at once


@dataclass
class StepResult:
    scheduled: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    kinds: Counter[str] = field(default_factory=Counter)
    rest_ms: list[float] = field(default_factory=list)
    rest_ms_by_kind: dict[str, list[float]] = field(default_factory=dict)
    # (frame key, ns the request was sent) of every successful write
    writes: list[tuple[tuple[str, str, int | None], int]] = field(default_factory=list)


class Client:
    def __init__(self, port: int, users: list[User], connections: int) -> None:
        self.port = port
        self.users = users
        self.connections = connections
        # Last in, first out: at a low rate a few connections stay warm instead of all going stale.
        self.pool: asyncio.LifoQueue[Connection | None] = asyncio.LifoQueue()
        self.frames: dict[tuple[str, str, int | None], int] = {}  # frame key → arrival ns
        self.misdelivered = 0
        self.duplicates = 0
        self.creates = 0
        self.updates = 0
        self.due_at = (datetime.now(UTC) + timedelta(days=7)).isoformat()  # no reminder fires during the run

    # --- sockets --------------------------------------------------------------------------------

    def on_update(self, user_id: int, frame: dict[str, Any], arrived_ns: int) -> None:
        task = frame.get("task") or {}
        if owner_of(str(task.get("title", ""))) != user_id:
            self.misdelivered += 1
        kind = frame["type"]
        key = (kind, str(task.get("id")), None if kind == "task.deleted" else task.get("version"))
        if key in self.frames:
            self.duplicates += 1
        self.frames[key] = arrived_ns

    # --- REST -----------------------------------------------------------------------------------

    async def open_pool(self) -> None:
        for _ in range(self.connections):
            self.pool.put_nowait(None)  # opened when first used

    async def send(self, request: bytes) -> tuple[int, bytes, int]:
        """(status, body, ns the request was sent) over a pooled connection; a connection that
        failed or idled too long is replaced."""
        connection = await self.pool.get()
        try:
            if connection is not None and time.monotonic() - connection.last_used > KEEPALIVE_REUSE_SECONDS:
                connection.writer.close()
                connection = None
            if connection is None:
                connection = Connection(*await asyncio.open_connection("127.0.0.1", self.port))
            sent_ns = time.time_ns()
            connection.writer.write(request)
            status, body = await asyncio.wait_for(_read_response(connection.reader), REQUEST_TIMEOUT_SECONDS)
        except BaseException:
            if connection is not None:
                connection.writer.close()
            self.pool.put_nowait(None)
            raise
        connection.last_used = time.monotonic()
        self.pool.put_nowait(connection)
        return status, body, sent_ns

    def pick(self, kind: str) -> tuple[User, str | None, str]:
        """A user and, for an action on a task, one of their open tasks with nothing in flight
        (a create when none of a few users drawn has one)."""
        for _ in range(8):
            user = random.choice(self.users)
            if kind not in ("update", "complete", "delete"):
                return user, None, kind
            idle = [task for task in user.open_tasks[-8:] if task not in user.busy]
            if idle:
                return user, random.choice(idle), kind
        return user, None, "create"

    def request(self, kind: str, user: User, task_id: str | None) -> bytes:
        port, token = self.port, user.token
        if kind == "me":
            return request_bytes("GET", "/api/v1/me/", port=port, token=token)
        if kind == "list":
            return request_bytes("GET", "/api/v1/tasks/?status=open&limit=20", port=port, token=token)
        if kind == "search":
            return request_bytes("GET", f"/api/v1/tasks/?q={random.choice(WORDS)}&limit=20", port=port, token=token)
        if kind == "create":
            self.creates += 1
            body: dict[str, Any] = {
                "title": title_for(user.user_id),
                "description": "Asked for in the chat.",
                "priority": random.choice(PRIORITIES),
                "tags": [random.choice(TAGS)],
                "due_at": self.due_at,
                "timezone": "Europe/Berlin",
            }
            if self.creates % 4 == 0:
                body["recurrence_rule"] = "weekly"
            if self.creates % 2 == 0:
                body["reminders"] = [{"offset_minutes": 30}]
            return request_bytes("POST", "/api/v1/tasks/", port=port, token=token, body=body)
        path = f"/api/v1/tasks/{task_id}/"
        if kind == "update":
            # A real change every time: an update that changes nothing emits no event (no frame).
            self.updates += 1
            title = f"{random.choice(WORDS)} {self.updates} u{user.user_id}"
            body = {"title": title, "priority": random.choice(PRIORITIES)}
            return request_bytes("PATCH", path, port=port, token=token, body=body)
        if kind == "complete":
            return request_bytes("POST", path + "complete/", port=port, token=token)
        return request_bytes("DELETE", path, port=port, token=token)

    async def act(self, kind: str, due: float, result: StepResult) -> None:
        user, task_id, kind = self.pick(kind)
        if task_id is not None:
            user.busy.add(task_id)
        result.kinds[kind] += 1
        try:
            status, body, sent_ns = await self.send(self.request(kind, user, task_id))
        except Exception as exc:  # noqa: BLE001 - every failure is counted and reported
            result.statuses["error"] += 1
            result.errors.append(f"{kind}: {type(exc).__name__}: {exc}"[:200])
            return
        finally:
            if task_id is not None:
                user.busy.discard(task_id)
        latency = (time.monotonic() - due) * 1000
        result.rest_ms.append(latency)
        result.rest_ms_by_kind.setdefault(kind, []).append(latency)
        result.statuses[str(status)] += 1
        if not 200 <= status < 300:
            result.errors.append(f"{kind}: HTTP {status}: {body[:150]!r}")
            return
        if kind not in WRITES:
            return
        if kind == "delete":
            user.open_tasks.remove(task_id)
            result.writes.append((("task.deleted", task_id, None), sent_ns))
            return
        task = orjson.loads(body)
        event = {"create": "task.created", "update": "task.updated", "complete": "task.completed"}[kind]
        result.writes.append(((event, task["id"], task["version"]), sent_ns))
        if kind == "create":
            user.open_tasks.append(task["id"])
        elif kind == "complete":
            user.open_tasks.remove(task_id)

    async def step(self, command: dict[str, Any], stats: Stats) -> dict[str, Any]:
        rate, seconds = float(command["rate"]), float(command["seconds"])
        kinds = [kind for kind, weight in MIX for _ in range(weight)] if command["mode"] == "mix" else ["me"]
        result = StepResult(scheduled=int(rate * seconds))
        closed_before, failed_before = stats.closed, len(stats.failed)
        misdelivered_before, duplicates_before = self.misdelivered, self.duplicates
        cpu_before = os.times()
        start = time.monotonic() + max(0.0, float(command["start_at"]) - time.time())
        actions = []
        for i in range(result.scheduled):
            due = start + i / rate
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            actions.append(asyncio.create_task(self.act(random.choice(kinds), due, result)))
        await asyncio.gather(*actions)
        window = time.monotonic() - start
        # Every write's frame, or the grace period: what has not come by then is lost.
        grace_end = time.monotonic() + float(command["grace"])
        while time.monotonic() < grace_end and any(key not in self.frames for key, _ in result.writes):
            await asyncio.sleep(0.05)
        latencies, lost, lost_keys = [], 0, []
        for key, sent_ns in result.writes:
            arrived = self.frames.get(key)
            if arrived is None:
                lost += 1
                lost_keys.append(key)
            else:
                latencies.append((arrived - sent_ns) / 1e6)
        cpu_after = os.times()
        return {
            "mode": command["mode"],
            "rate": rate,
            "scheduled": result.scheduled,
            "window_seconds": window,
            "completed": sum(count for status, count in result.statuses.items() if status.startswith("2")),
            "statuses": dict(result.statuses),
            "errors": result.errors[:20],
            "kinds": dict(result.kinds),
            "rest_ms": result.rest_ms,
            "rest_ms_by_kind": result.rest_ms_by_kind,
            "writes": len(result.writes),
            "write_frame_ms": latencies,
            "lost": lost,
            "lost_frames": lost_keys[:20],  # (type, task id, version): what to look for in the sync rows
            "misdelivered": self.misdelivered - misdelivered_before,
            "duplicates": self.duplicates - duplicates_before,
            "sockets_closed": stats.closed - closed_before,
            "socket_errors": stats.failed[failed_before:][:10],
            "client_cpu_seconds": (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system),
        }


def _write(path: Path, document: dict[str, Any]) -> None:
    """Whole or not at all: the orchestrator reads the file as soon as it exists."""
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(document))
    partial.rename(path)


async def main_async(args: argparse.Namespace) -> None:
    directory = Path(args.dir)
    users = [User(int(uid), token, list(tasks)) for uid, token, tasks in json.loads(Path(args.users).read_text())]
    client = Client(args.port, users, args.http_connections)
    stats = Stats()
    started = time.monotonic()
    connections = await open_all(
        f"ws://127.0.0.1:{args.port}/ws/sync/",
        [[user.user_id, user.token] for user in users[: args.sockets]],
        stats,
        concurrency=args.concurrency,
        wait_ready=True,
        on_update=client.on_update,
    )
    await client.open_pool()
    ready = {"connected": len(connections), "failed": stats.failed[:20], "seconds": time.monotonic() - started}
    _write(directory / "ready.json", ready)
    k = 0
    while not (directory / "stop").exists():
        command_file = directory / f"step-{k}.json"
        if not command_file.exists():
            await asyncio.sleep(0.05)
            continue
        outcome = await client.step(json.loads(command_file.read_text()), stats)
        outcome["sockets_open"] = len(connections) - stats.closed
        _write(directory / f"result-{k}.json", outcome)
        k += 1
    os._exit(0)  # closing thousands of sockets one by one would only slow the run down


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--users", required=True)
    parser.add_argument("--dir", required=True)
    parser.add_argument("--concurrency", type=int, default=64, help="handshakes in flight")
    parser.add_argument("--http-connections", type=int, default=32)
    parser.add_argument("--sockets", type=int, default=None, help="only the first K users hold a socket")
    args = parser.parse_args()
    try:
        import uvloop

        uvloop.run(main_async(args))
    except ImportError:  # pragma: no cover - uvloop comes with uvicorn[standard]
        with contextlib.suppress(KeyboardInterrupt):
            asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
