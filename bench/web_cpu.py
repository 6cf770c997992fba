"""One web process's CPU per request, with N idle sync sockets open: what a request costs the web
and what the sockets cost it, apart (scenario 10's question, issue 24); and what the same REST
requests cost under WSGI (gunicorn) instead of ASGI (uvicorn).

    python -m bench.web_cpu [--server uvicorn,gunicorn] [--sockets 0,1000,5000] [--modes me,mix]
                            [--rates 50,100] [--seconds 20]

Each server in `--server` order, one after the other, against one database: `uvicorn`, one
worker as the bench starts it (`Harness.uvicorn`); `gunicorn`, Django's WSGI application
(`todo_project.wsgi`) in one `gthread` worker with `--threads` threads and the web's database
pool, as the deployment sets it; `gunicorn-persistent`, the same with Django's persistent
connections (one per thread, CONN_MAX_AGE) instead of the pool. Gunicorn cannot hold the sync
sockets, so it is measured at 0 sockets only. PostgreSQL, Redis and the run's broker; the relay
runs with `--relay`. One `bench.userload` process holds the first N users' sockets and acts for
any user, open loop, at each rate: `me` (`GET /api/v1/me/`) or `mix` (the chatbot's mix). For
each server and N: the web's CPU with the sockets open and no request (idle cores), then per
completed request at each rate: the server's processes (gunicorn: master and worker), the main
thread of the process that serves (uvicorn: the event loop; gthread: the accepting and polling
loop) and so the request threads, the same net of the idle part, this run's PostgreSQL backends,
and the REST latency. From `/proc/<pid>/stat` and `/proc/<pid>/task/<pid>/stat`; a warm-up step
first at each N for each mode.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
import urllib.request
from pathlib import Path

from bench.cpu import TICKS, CpuMeter
from bench.harness import PYTHON, WEB_DATABASE_POOL_MAX_SIZE, Child, Harness, child_pids, rss_kib, wait_until
from bench.stats import percentile

SERVERS = ("uvicorn", "gunicorn", "gunicorn-persistent")
# uvicorn's keep-alive timeout (5 s): the load client reuses a connection idle up to 4 s.
KEEPALIVE_SECONDS = "5"


def _ticks(path: str) -> int:
    text = Path(path).read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def web_ticks(pids: list[int], serving: list[int]) -> tuple[int, int]:
    """(all of `pids`' CPU, the main threads' of `serving`) in clock ticks."""
    return sum(_ticks(f"/proc/{p}/stat") for p in pids), sum(_ticks(f"/proc/{p}/task/{p}/stat") for p in serving)


def _seed(prefix: str, count: int, path: Path) -> None:
    from bench.scenarios.common import make_users, token_for
    from bench.userload import WORDS
    from tasks_app.models import Task

    users = make_users(prefix, count)
    titles = [(u, f"{random.choice(WORDS)} {random.choice(WORDS)} u{u.pk}") for u in users for _ in range(5)]
    tasks = Task.objects.bulk_create([Task(owner=u, title=title) for u, title in titles], batch_size=5000)
    by_owner: dict[int, list[str]] = {}
    for task in tasks:
        by_owner.setdefault(task.owner_id, []).append(str(task.id))
    path.write_text(json.dumps([[u.pk, token_for(u, ttl_seconds=4 * 3600), by_owner[u.pk]] for u in users]))


def gunicorn(harness: Harness, name: str, *, threads: int, pooled: bool) -> tuple[Child, int, list[int]]:
    """Django's WSGI application under one gunicorn `gthread` worker, on a free port, as
    `Harness.uvicorn` starts uvicorn (no access log, backlog 4096, uvicorn's keep-alive); the
    web's database pool when `pooled`, else Django's persistent connections. (server, port,
    worker pids)."""
    from kafka_bridge.embedded import free_port

    env = {"DATABASE_POOL_MAX_SIZE": WEB_DATABASE_POOL_MAX_SIZE if pooled else "0"}
    port = free_port()
    argv = [PYTHON, "-m", "gunicorn", "todo_project.wsgi:application", "--bind", f"127.0.0.1:{port}"]
    argv += ["--worker-class", "gthread", "--workers", "1", "--threads", str(threads)]
    argv += ["--keep-alive", KEEPALIVE_SECONDS, "--backlog", "4096", "--graceful-timeout", "3"]
    child = harness.start(name, argv, **env)

    def healthy() -> bool:
        if child.process.poll() is not None:
            raise RuntimeError(f"{name} exited; see {child.log_path}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
                return response.status < 500
        except OSError:
            return False

    wait_until(healthy, 60, f"{name} on port {port}", interval=0.2)
    return child, port, child_pids(child.pid)


def _latency(result: dict) -> dict[str, float]:
    rest = result["rest_ms"]
    return {"p50_ms": percentile(rest, 50), "p99_ms": percentile(rest, 99)}


def measure(harness: Harness, args: argparse.Namespace, server: str, users_file: Path, backends) -> list[dict]:
    """Every socket level of one server: its rows."""
    levels = [int(n) for n in args.sockets.split(",")]
    rates = [float(r) for r in args.rates.split(",")]
    modes = args.modes.split(",")
    if server == "uvicorn":
        web, port = harness.uvicorn("web-cpu-uvicorn", workers=1)
        pids = serving = [web.pid]
    else:
        web, port, serving = gunicorn(harness, f"web-cpu-{server}", threads=args.threads, pooled=server == "gunicorn")
        pids = [web.pid, *serving]
        levels = [0]  # WSGI holds no WebSocket
    print(f"web-cpu: run {harness.run_id}, {server} pids {pids}, load average {os.getloadavg()}", flush=True)
    rows = []
    for n in levels:
        directory = harness.log_dir / f"web-cpu-client-{server}-{n}"
        directory.mkdir()
        argv = [PYTHON, "-m", "bench.userload", "--port", str(port), "--users", str(users_file)]
        client = harness.start(directory.name, [*argv, "--dir", str(directory), "--sockets", str(n)])
        wait_until(lambda d=directory: (d / "ready.json").exists(), 300, "the client's sockets", 0.5)
        time.sleep(3)
        (t0, _), w0 = web_ticks(pids, serving), time.monotonic()
        time.sleep(args.idle)
        (t1, _), w1 = web_ticks(pids, serving), time.monotonic()
        idle = (t1 - t0) / TICKS / (w1 - w0)
        rss = sum(rss_kib(p) for p in pids) / 1024
        row = {"server": server, "sockets": n, "idle_cores": idle, "rss_mib": rss, "steps": []}
        row["load_average"] = os.getloadavg()
        print(f"  {server}, {n} sockets: idle {idle:.3f} cores, RSS {rss:.0f} MiB", flush=True)
        warm_ups = [(m, rates[0], 5.0, True) for m in modes]
        steps = warm_ups + [(m, r, args.seconds, False) for m in modes for r in rates]
        for k, (mode, rate, seconds, warm_up) in enumerate(steps):
            command = {"mode": mode, "rate": rate, "seconds": seconds, "grace": 0, "start_at": time.time() + 0.5}
            (directory / f"step-{k}.tmp").write_text(json.dumps(command))
            (directory / f"step-{k}.tmp").rename(directory / f"step-{k}.json")
            meter = CpuMeter({"PostgreSQL": backends})
            meter.start()
            (t0, m0), w0 = web_ticks(pids, serving), time.monotonic()
            result_file = directory / f"result-{k}.json"
            wait_until(result_file.exists, seconds + 120, "the step's result", 0.05)
            (t1, m1), w1 = web_ticks(pids, serving), time.monotonic()
            pg_seconds = meter.stop()["PostgreSQL"]
            if warm_up:
                continue
            result = json.loads(result_file.read_text())
            done = max(1, result["completed"])
            step = {
                "mode": mode,
                "rate": rate,
                "completed": done,
                "failed": result["scheduled"] - result["completed"],
                "web_ms": (t1 - t0) / TICKS * 1000 / done,
                "web_main_thread_ms": (m1 - m0) / TICKS * 1000 / done,
                "web_ms_net_of_idle": ((t1 - t0) / TICKS - idle * (w1 - w0)) * 1000 / done,
                "postgresql_ms": pg_seconds * 1000 / done,
                **_latency(result),
            }
            row["steps"].append(step)
            print(
                f"    {mode} {rate:g}/s: {done} requests ({step['failed']} failed); web {step['web_ms']:.2f} ms each "
                f"(main thread {step['web_main_thread_ms']:.2f}), net of idle {step['web_ms_net_of_idle']:.2f}; "
                f"PostgreSQL {step['postgresql_ms']:.2f}; p50 {step['p50_ms']:.1f} ms, p99 {step['p99_ms']:.1f} ms",
                flush=True,
            )
        (directory / "stop").touch()
        harness.stop(client)
        time.sleep(5)  # the server sees the sockets close
        rows.append(row)
    harness.stop(web)
    return rows


def run(args: argparse.Namespace) -> list[dict]:
    servers = args.server.split(",")
    unknown = set(servers) - set(SERVERS)
    if unknown:
        raise SystemExit(f"unknown server(s) {', '.join(sorted(unknown))}; one of {', '.join(SERVERS)}")
    harness = Harness()
    harness.open()
    rows = []
    try:
        from bench.scenarios.users_10k import backend_pids

        count = max(200, *(int(n) for n in args.sockets.split(",")))
        backends, pg = backend_pids(harness)
        if args.relay:
            harness.relay()
        for k, server in enumerate(servers):
            # Users and tasks of its own: the tasks another server's client completed or deleted
            # would answer 404.
            users_file = harness.log_dir / f"web-cpu-users-{server}.json"
            _seed(f"web-cpu-s{k}", count, users_file)
            rows += measure(harness, args, server, users_file, backends)
        pg.close()
    finally:
        harness.close()
    for row in rows:
        row["run"] = harness.run_id
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.web_cpu", description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="uvicorn", help=f"one or more of {', '.join(SERVERS)}, in this order")
    parser.add_argument("--sockets", default="0,1000,5000", help="idle sockets open, one level after another")
    parser.add_argument("--modes", default="me", help="me, mix or both (comma-separated)")
    parser.add_argument("--rates", default="50,100", help="requests per second of each step")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--idle", type=float, default=10, help="seconds of the idle window at each level")
    parser.add_argument("--threads", type=int, default=8, help="gunicorn's threads in its one worker")
    parser.add_argument("--relay", action="store_true", help="run the outbox relay too")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = parser.parse_args()
    rows = run(args)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
