"""JSON log lines carrying the correlation id."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from pythonjsonlogger.orjson import OrjsonFormatter

from core.correlation import get_correlation_id

# An `extra` key: a list of dicts. The JSON formatter writes the record as one line per dict, each
# the record's fields updated with that dict. For code that logs a line per item of a large batch
# (the relay: one per correlation id it published): one logging call, not thousands.
EACH_LINE = "each_line"


class CorrelationIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "correlation_id", None):
            record.correlation_id = get_correlation_id()
        return True


# Bearer tokens in URLs (`/ws/sync/?token=…`): uvicorn logs the request line, query included.
_SECRET_IN_URL = re.compile(r"((?:^|[?&])(?:token|access_token|cursor_token)=)[^&\s\"']+")


def redact(text: str) -> str:
    return _SECRET_IN_URL.sub(r"\1[redacted]", text)


class RedactSecretsFilter(logging.Filter):
    """Removes tokens from logged URLs, so a log line never carries a usable credential."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, str) and "=" in record.msg:
            record.msg = redact(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(redact(arg) if isinstance(arg, str) else arg for arg in record.args)
        return True


class JsonFormatter(OrjsonFormatter):
    """One JSON object per line: time, level, logger, message, correlation_id and extras (a
    record with an EACH_LINE list: one line per item, see there).

    Serialised by orjson, cheaper per line than `json`: a line is written per request, and per
    published event in the relay."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("timestamp", "time")
        kwargs.setdefault("rename_fields", {"levelname": "level", "name": "logger"})
        super().__init__("%(levelname)s %(name)s %(message)s %(correlation_id)s", *args, **kwargs)

    def add_fields(self, log_record: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]) -> None:
        super().add_fields(log_record, record, message_dict)
        # `request` (added by django.request) is not JSON-serialisable and says nothing new.
        log_record.pop("request", None)
        log_record.pop("color_message", None)

    def serialize_log_record(self, log_record: dict[str, Any]) -> str:
        each_line = log_record.pop(EACH_LINE, None)
        if not each_line or not isinstance(each_line, list):
            return super().serialize_log_record(log_record)
        # The fields no line sets are serialised once; each line adds the others to that text.
        own = set().union(*each_line)
        shared = self.jsonify_log_record({k: v for k, v in log_record.items() if k not in own})[:-1]
        defaults = {k: log_record[k] for k in own if k in log_record}
        return "\n".join(self.prefix + shared + self._own_fields({**defaults, **line}) for line in each_line)

    def _own_fields(self, line: dict[str, Any]) -> str:
        """`line` as the rest of a JSON object whose shared fields precede it: `,"a":1}`."""
        return "," + self.jsonify_log_record(line)[1:] if line else "}"

    def jsonify_log_record(self, log_record: dict[str, Any]) -> str:
        try:
            return super().jsonify_log_record(log_record)
        except TypeError:  # what orjson refuses (an int beyond 64 bits): the line is still written
            return json.dumps(log_record, default=str)
