"""`Idempotency-Key` for POST requests (DESIGN.md section 4), per user and operation, kept 24 h.

- first request with a key: its row is committed `in_flight` *before* the work starts, then
  completed with the response in the same transaction as the work (so there is never a task
  without its recorded response, nor a recorded response without its task);
- a repeat with the same body gets the first response again (`Idempotent-Replayed: true`);
  the caller may refuse a replay that no longer holds (`task_create_from_input`: 410 once the
  task it created is deleted);
- a repeat with another body: 422; a repeat while the first is still running: 409;
- a failed first request (validation error, crash) leaves no row: the key can be used again;
- a row left `in_flight` by a killed process is taken over after `STALE_AFTER`.
Expired rows are ignored here and deleted by `prune_idempotency_keys_task`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from core.errors import ApplicationError
from tasks_app.models import IdempotencyKey, IdempotencyKeyStatus

HEADER = "Idempotency-Key"
TTL = timedelta(hours=24)
STALE_AFTER = timedelta(minutes=2)
MAX_KEY_LENGTH = 255


@dataclass
class StoredResponse:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    replayed: bool = False


def request_fingerprint(method: str, path: str, body: Any) -> str:
    canonical = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def _check_key(key: str) -> None:
    if not key or len(key) > MAX_KEY_LENGTH or not all(" " <= char <= "~" for char in key):
        raise ApplicationError(
            f"{HEADER} must be 1 to {MAX_KEY_LENGTH} printable ASCII characters (a UUID is a good choice).",
            code="validation_error",
            status=400,
            fields={HEADER: [f"1 to {MAX_KEY_LENGTH} printable ASCII characters."]},
        )


def _claim(*, user: AbstractBaseUser, key: str, scope: str, fingerprint: str) -> IdempotencyKey | StoredResponse:
    """Our new in_flight row, or the stored response to replay; raises 409/422."""
    now = timezone.now()
    for _attempt in range(3):
        try:
            with transaction.atomic():
                return IdempotencyKey.objects.create(
                    user=user, key=key, scope=scope, request_hash=fingerprint, expires_at=now + TTL
                )
        except IntegrityError:
            existing = IdempotencyKey.objects.filter(user=user, scope=scope, key=key).first()
        if existing is None:  # the first request failed and released the key meanwhile
            continue
        if existing.expires_at <= now:
            IdempotencyKey.objects.filter(pk=existing.pk, expires_at__lte=now).delete()
            continue
        if existing.request_hash != fingerprint:
            raise ApplicationError(
                f"This {HEADER} was already used with a different request body. Use a new key for a new request.",
                code="idempotency_key_reused",
                status=422,
            )
        if existing.status == IdempotencyKeyStatus.COMPLETED:
            return StoredResponse(existing.response_status, existing.response_body, existing.response_headers, True)
        # In flight: ours to take over only if its process evidently died.
        taken = IdempotencyKey.objects.filter(
            pk=existing.pk, status=IdempotencyKeyStatus.IN_FLIGHT, created_at__lt=now - STALE_AFTER
        ).update(created_at=now)
        if taken:
            existing.refresh_from_db()
            return existing
        raise ApplicationError(
            f"A request with this {HEADER} is still being processed; retry in a moment to get its response.",
            code="idempotency_request_in_flight",
            status=409,
            headers={"Retry-After": "1"},
        )
    raise ApplicationError(
        f"This {HEADER} is contended; retry in a moment.",
        code="idempotency_request_in_flight",
        status=409,
        headers={"Retry-After": "1"},
    )


def run_idempotent(
    *,
    user: AbstractBaseUser,
    key: str | None,
    scope: str,
    fingerprint: str,
    perform: Callable[[], StoredResponse],
) -> StoredResponse:
    """Run `perform` once per (user, scope, key); without a key, just run it."""
    if key is None:
        return perform()
    _check_key(key)
    claimed = _claim(user=user, key=key, scope=scope, fingerprint=fingerprint)
    if isinstance(claimed, StoredResponse):
        return claimed
    try:
        with transaction.atomic():
            response = perform()
            IdempotencyKey.objects.filter(pk=claimed.pk).update(
                status=IdempotencyKeyStatus.COMPLETED,
                response_status=response.status,
                response_body=response.body,
                response_headers=response.headers,
            )
    except BaseException:
        IdempotencyKey.objects.filter(pk=claimed.pk, status=IdempotencyKeyStatus.IN_FLIGHT).delete()
        raise
    return response


def prune_expired(*, now: Any = None) -> int:
    """Delete the keys whose 24 h are over; returns how many."""
    deleted, _ = IdempotencyKey.objects.filter(expires_at__lte=now or timezone.now()).delete()
    return deleted
