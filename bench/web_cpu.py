"""One web process's CPU per request, with N idle sync sockets open: what a request costs the web
and what the sockets cost it, apart (scenario 10's question, issue 24).

    python -m bench.web_cpu [--sockets 0,1000,5000] [--modes me,mix] [--rates 50,100] [--seconds 20]

One uvicorn worker as the bench starts it (`Harness.uvicorn`), PostgreSQL, Redis and the run's
broker; the relay runs with `--relay` (otherwise the writes' outbox rows pile up). One
`bench.userload` process holds the first N users' sockets and acts for any user, open loop, at
each rate: `me` (`GET /api/v1/me/`) or `mix` (the chatbot's mix). For each N: the web's CPU with
the sockets open and no request (idle cores), then per completed request at each rate: the whole
process, its event-loop thread and the other threads (Django runs a request's sync code in a
thread), the same net of the idle part, and this run's PostgreSQL backends. From
`/proc/<pid>/stat` and `/proc/<pid>/task/<pid>/stat`; a warm-up step first at each N.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from bench.cpu import TICKS, CpuMeter
from bench.harness import PYTHON, Harness, rss_kib, wait_until


def _ticks(path: str) -> int:
    text = Path(path).read_text()
    fields = text[text.rindex(")") + 2 :].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def web_ticks(pid: int) -> tuple[int, int]:
    """(the whole process's, its main thread's) CPU in clock ticks."""
    return _ticks(f"/proc/{pid}/stat"), _ticks(f"/proc/{pid}/task/{pid}/stat")


def _seed(count: int, path: Path) -> None:
    from bench.scenarios.common import make_users, token_for
    from bench.userload import WORDS
    from tasks_app.models import Task

    users = make_users("web-cpu", count)
    titles = [(u, f"{random.choice(WORDS)} {random.choice(WORDS)} u{u.pk}") for u in users for _ in range(5)]
    tasks = Task.objects.bulk_create([Task(owner=u, title=title) for u, title in titles], batch_size=5000)
    by_owner: dict[int, list[str]] = {}
    for task in tasks:
        by_owner.setdefault(task.owner_id, []).append(str(task.id))
    path.write_text(json.dumps([[u.pk, token_for(u, ttl_seconds=4 * 3600), by_owner[u.pk]] for u in users]))


def run(args: argparse.Namespace) -> list[dict]:
    levels = [int(n) for n in args.sockets.split(",")]
    rates = [float(r) for r in args.rates.split(",")]
    modes = args.modes.split(",")
    harness = Harness()
    harness.open()
    rows = []
    try:
        from bench.scenarios.users_10k import backend_pids

        users_file = harness.log_dir / "web-cpu-users.json"
        _seed(max(200, *levels), users_file)
        backends, pg = backend_pids(harness)
        if args.relay:
            harness.relay()
        web, port = harness.uvicorn("web-cpu", workers=1)
        pid = web.pid
        print(f"web-cpu: run {harness.run_id}, web pid {pid}", flush=True)
        for n in levels:
            directory = harness.log_dir / f"web-cpu-client-{n}-{len(rows)}"
            directory.mkdir()
            argv = [PYTHON, "-m", "bench.userload", "--port", str(port), "--users", str(users_file)]
            client = harness.start(directory.name, [*argv, "--dir", str(directory), "--sockets", str(n)])
            wait_until(lambda d=directory: (d / "ready.json").exists(), 300, "the client's sockets", 0.5)
            time.sleep(3)
            (t0, _), w0 = web_ticks(pid), time.monotonic()
            time.sleep(args.idle)
            (t1, _), w1 = web_ticks(pid), time.monotonic()
            idle = (t1 - t0) / TICKS / (w1 - w0)
            row = {"sockets": n, "idle_cores": idle, "rss_mib": rss_kib(pid) / 1024, "steps": []}
            print(f"  {n} sockets: idle {idle:.3f} cores, RSS {row['rss_mib']:.0f} MiB", flush=True)
            steps = [(modes[0], rates[0], 5.0, True)] + [(m, r, args.seconds, False) for m in modes for r in rates]
            for k, (mode, rate, seconds, warm_up) in enumerate(steps):
                command = {"mode": mode, "rate": rate, "seconds": seconds, "grace": 0, "start_at": time.time() + 0.5}
                (directory / f"step-{k}.tmp").write_text(json.dumps(command))
                (directory / f"step-{k}.tmp").rename(directory / f"step-{k}.json")
                meter = CpuMeter({"PostgreSQL": backends})
                meter.start()
                (t0, m0), w0 = web_ticks(pid), time.monotonic()
                result_file = directory / f"result-{k}.json"
                wait_until(result_file.exists, seconds + 120, "the step's result", 0.05)
                (t1, m1), w1 = web_ticks(pid), time.monotonic()
                pg_seconds = meter.stop()["PostgreSQL"]
                if warm_up:
                    continue
                done = max(1, json.loads(result_file.read_text())["completed"])
                step = {
                    "mode": mode,
                    "rate": rate,
                    "completed": done,
                    "web_ms": (t1 - t0) / TICKS * 1000 / done,
                    "web_loop_thread_ms": (m1 - m0) / TICKS * 1000 / done,
                    "web_ms_net_of_idle": ((t1 - t0) / TICKS - idle * (w1 - w0)) * 1000 / done,
                    "postgresql_ms": pg_seconds * 1000 / done,
                }
                row["steps"].append(step)
                print(
                    f"    {mode} {rate:g}/s: {done} requests; web {step['web_ms']:.2f} ms each (event-loop thread "
                    f"{step['web_loop_thread_ms']:.2f}), net of idle {step['web_ms_net_of_idle']:.2f}; "
                    f"PostgreSQL {step['postgresql_ms']:.2f}",
                    flush=True,
                )
            (directory / "stop").touch()
            harness.stop(client)
            time.sleep(5)  # the server sees the sockets close
            rows.append(row)
        pg.close()
    finally:
        harness.close()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.web_cpu", description=__doc__.splitlines()[0])
    parser.add_argument("--sockets", default="0,1000,5000", help="idle sockets open, one level after another")
    parser.add_argument("--modes", default="me", help="me, mix or both (comma-separated)")
    parser.add_argument("--rates", default="50,100", help="requests per second of each step")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--idle", type=float, default=10, help="seconds of the idle window at each level")
    parser.add_argument("--relay", action="store_true", help="run the outbox relay too")
    parser.add_argument("--out", type=Path, default=None, help="write the figures as JSON here")
    args = parser.parse_args()
    rows = run(args)
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
