"""`make dev`: runs every process of the system in the foreground with honcho.

Web (HTTP + WebSocket), Celery worker and beat, the outbox relay and one process per registered
Kafka consumer. When KAFKA_BOOTSTRAP_SERVERS is unset, the embedded broker (KAFKA_EMBEDDED_BROKER:
Tansu, or Apache Kafka with its data in KAFKA_EMBEDDED_DATA_DIR, kept across restarts) is started
first and answering before the rest. Ctrl-C stops them all; when one dies, honcho reports it and
stops the rest, and the broker is stopped last.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "todo_project.settings")


def procfile_lines() -> list[str]:
    import django

    django.setup()
    from django.conf import settings

    from kafka_bridge.registry import consumers
    from todo_project.uvicorn_args import WEBSOCKET_ARGS

    python = sys.executable
    lines = []
    lines += [
        # The web role pools database connections (see docker/entrypoint/web); the caller's value wins.
        f"web: env DATABASE_POOL_MAX_SIZE=${{DATABASE_POOL_MAX_SIZE:-10}} {python} -m uvicorn "
        f"todo_project.asgi:application --host 0.0.0.0 --port {settings.PORT} --proxy-headers "
        f"{' '.join(WEBSOCKET_ARGS)} --log-config docker/uvicorn-logging.json",
        # As docker/entrypoint/worker runs it: threads (the jobs wait on SMTP and PostgreSQL), 8.
        f"worker: {python} -m celery -A todo_project worker -l INFO --pool ${{CELERY_POOL:-threads}} "
        "--concurrency ${CELERY_CONCURRENCY:-8}",
        f"beat: {python} -m celery -A todo_project beat -l INFO",
        f"relay: {python} manage.py relay_outbox --loop",
    ]
    lines += [f"consumer-{name}: {python} manage.py run_consumer {name}" for name in consumers()]
    return lines


def start_embedded_broker(dev_dir: Path) -> Any:
    """The embedded broker, answering, or None where KAFKA_BOOTSTRAP_SERVERS names one."""
    from django.conf import settings

    from kafka_bridge import embedded

    if not settings.KAFKA_EMBEDDED:
        return None
    data_dir = Path(os.environ.get("KAFKA_EMBEDDED_DATA_DIR") or dev_dir / "kafka-data").resolve()
    log_path = dev_dir / "kafka.log"
    kind = settings.KAFKA_EMBEDDED_BROKER
    where = f", data in {data_dir}" if kind == "apache" else " (in memory)"
    print(f"dev: starting the embedded {kind} broker on port {settings.KAFKA_EMBEDDED_PORT}{where}, log {log_path}")
    broker = embedded.start(settings.KAFKA_EMBEDDED_PORT, broker=kind, data_dir=data_dir, log_path=log_path)
    print("dev: the broker answers")
    return broker


def main() -> None:
    dev_dir = ROOT / ".dev"
    dev_dir.mkdir(exist_ok=True)
    procfile = dev_dir / "Procfile"
    procfile.write_text("\n".join(procfile_lines()) + "\n")
    empty_env = dev_dir / "empty.env"  # settings come from the environment only, never a .env file
    empty_env.write_text("")
    # The relay loop below LISTENs for each commit's NOTIFY: no Celery relay job per write.
    os.environ.setdefault("KAFKA_OUTBOX_CELERY_WAKEUP", "false")
    broker = start_embedded_broker(dev_dir)
    honcho = Path(sys.executable).with_name("honcho")
    try:
        runner = subprocess.Popen([str(honcho), "-f", str(procfile), "-d", str(ROOT), "-e", str(empty_env), "start"])
        # Ctrl-C and SIGTERM go to honcho, which stops every process; the broker goes last.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, lambda received, _frame: runner.send_signal(received))
        code = runner.wait()
    finally:
        if broker is not None:
            broker.stop()
    sys.exit(code)


if __name__ == "__main__":
    main()
