"""Structured logs: one JSON object per line, for a log collector.

Every line has time (UTC, ISO 8601), level, logger and message; the fields a caller
passes with `logger.info("...", extra={"job": ..., "jobId": ...})` are added as they
are, and an exception's traceback goes in "exc_info". Selected in settings.LOGGING
with LOG_FORMAT=json (the default when DEBUG is off). Fields set with `log_context(...)`
are added to every line logged inside the block (in its thread), e.g. the scheduler's tick.
"""

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import UTC, datetime

# The attributes every LogRecord has; anything else on a record came from `extra=`.
_STANDARD_ATTRS = frozenset(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}


def _jsonable(value):
    """json.dumps fallback: datetimes, UUIDs, Decimals, timedeltas... as text."""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if hasattr(value, "total_seconds"):
        return value.total_seconds()
    return str(value)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_") and key not in entry:
                entry[key] = value
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=_jsonable, ensure_ascii=False)


class ClientErrorsAsWarnings(logging.Filter):
    """Django logs a client's bad request (DisallowedHost, too many fields, a body too large:
    the `django.security.*` loggers) at ERROR, so anyone could page the on-call person, who
    alerts on ERROR. They are 400s: logged here at WARNING, without a traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.startswith("django.security.") and record.levelno == logging.ERROR:
            record.levelno, record.levelname = logging.WARNING, "WARNING"
            record.exc_info = record.exc_text = None
        return True


_context: ContextVar[dict | None] = ContextVar("log_context", default=None)


@contextmanager
def log_context(**fields) -> Iterator[None]:
    """Add `fields` to every log record made in this thread inside the block."""
    token = _context.set({**(_context.get() or {}), **fields})
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    """Puts the log_context fields on a record (a field the caller passed wins)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in (_context.get() or {}).items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True
