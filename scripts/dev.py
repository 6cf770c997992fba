"""`make dev`: runs every process of the system in the foreground with honcho.

Web (HTTP + WebSocket), Celery worker and beat, the outbox relay, one process per registered
Kafka consumer and, when KAFKA_BOOTSTRAP_SERVERS is unset, the embedded broker. Ctrl-C stops
them all; when one dies, honcho reports it and stops the rest.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "todo_project.settings")


def procfile_lines() -> list[str]:
    import django

    django.setup()
    from django.conf import settings

    from kafka_bridge.registry import CONSUMERS
    from todo_project.uvicorn_args import WEBSOCKET_ARGS

    python = sys.executable
    lines = []
    if settings.KAFKA_EMBEDDED:
        port = settings.KAFKA_EMBEDDED_PORT
        lines.append(f"kafka: {python} -m kafka_bridge.embedded --port {port}")
    lines += [
        # The web role pools database connections (see docker/entrypoint/web); the caller's value wins.
        f"web: env DATABASE_POOL_MAX_SIZE=${{DATABASE_POOL_MAX_SIZE:-10}} {python} -m uvicorn "
        f"todo_project.asgi:application --host 0.0.0.0 --port {settings.PORT} --proxy-headers "
        f"{' '.join(WEBSOCKET_ARGS)} --log-config docker/uvicorn-logging.json",
        f"worker: {python} -m celery -A todo_project worker -l INFO --concurrency 2",
        f"beat: {python} -m celery -A todo_project beat -l INFO",
        f"relay: {python} manage.py relay_outbox --loop",
    ]
    lines += [f"consumer-{name}: {python} manage.py run_consumer {name}" for name in CONSUMERS]
    return lines


def main() -> None:
    dev_dir = ROOT / ".dev"
    dev_dir.mkdir(exist_ok=True)
    procfile = dev_dir / "Procfile"
    procfile.write_text("\n".join(procfile_lines()) + "\n")
    empty_env = dev_dir / "empty.env"  # settings come from the environment only, never a .env file
    empty_env.write_text("")
    # The relay loop below LISTENs for each commit's NOTIFY: no Celery relay job per write.
    os.environ.setdefault("KAFKA_OUTBOX_CELERY_WAKEUP", "false")
    honcho = Path(sys.executable).with_name("honcho")
    os.execv(str(honcho), [str(honcho), "-f", str(procfile), "-d", str(ROOT), "-e", str(empty_env), "start"])  # noqa: S606


if __name__ == "__main__":
    main()
