"""JSON-lines logging for the service, with the request id of each request.

Every record becomes one JSON object per line on standard error: time, level,
logger, message, and the fields passed in ``extra`` (event, request_id, model,
status, ...). Record contents are never logged: the service only passes
counts, names and ids.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
from contextvars import ContextVar

from unseen.errors import UnseenError

# The id of the request being handled, set by the request middleware. Records
# logged while handling it carry the id even when the caller did not pass it.
request_id_var: ContextVar[str | None] = ContextVar("unseen_request_id", default=None)

# Attributes every LogRecord has; anything else came from ``extra``.
# uvicorn's color_message repeats the message with terminal colour codes.
_STANDARD_ATTRIBUTES = set(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


class JsonFormatter(logging.Formatter):
    """Format each log record as one JSON object."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = request_id_var.get()
        if request_id is not None:
            entry["request_id"] = request_id
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure_logging(level: str = "info") -> None:
    """Send all records at ``level`` or above to standard error as JSON lines.

    Replaces the root handlers and makes uvicorn's loggers propagate to the
    root, so the server's own messages are JSON lines too.
    """
    numeric_level = logging.getLevelName(level.upper())
    if not isinstance(numeric_level, int):
        raise UnseenError(f"unknown log level {level!r}: use debug, info, warning or error")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric_level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
