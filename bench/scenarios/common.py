"""Helpers shared by the scenarios: users, tokens, waiting for the outbox to drain."""

from __future__ import annotations

import time
from typing import Any

from django.contrib.auth import get_user_model

from bench.harness import wait_until
from core.auth.tokens import issue_token
from kafka_bridge import relay


def make_users(prefix: str, count: int) -> list[Any]:
    """`count` users named `<prefix>-<i>`, created in bulk (no password: tokens only)."""
    User = get_user_model()
    unusable = "!"  # Django's unusable password: these users sign in with tokens only
    User.objects.bulk_create(
        [User(username=f"{prefix}-{i}", email=f"{prefix}-{i}@example.com", password=unusable) for i in range(count)],
        batch_size=2000,
    )
    return list(User.objects.filter(username__startswith=f"{prefix}-").order_by("id"))


def token_for(user: Any, ttl_seconds: int = 3600) -> str:
    return issue_token(subject=user.username, ttl_seconds=ttl_seconds)


def wait_outbox_drained(timeout: float) -> float:
    """Wait until the relay has published every outbox row; returns the seconds waited."""
    started = time.monotonic()
    wait_until(
        lambda: not relay.has_pending(),
        timeout,
        "the outbox relay to publish every row",
        interval=0.2,
    )
    return time.monotonic() - started
