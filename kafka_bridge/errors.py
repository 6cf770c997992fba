"""The two ways a Kafka handler can fail, and what the consumer runner does with each.

- `PermanentError`: the record can never be processed (bad data, a business rule says no). The
  runner sends it to `<topic>.dlq` at once, with the message as the `error` header.
- `TransientError` (or any other exception): something outside may recover (database restart,
  lock timeout, a remote service). The runner retries in place with backoff, up to the consumer's
  `max_attempts`, then dead-letters the record.
"""

from __future__ import annotations


class PermanentError(Exception):
    """Retrying cannot help: dead-letter the record now."""


class TransientError(Exception):
    """Retrying may help: retry with backoff, then dead-letter."""
