"""podnet's one log schema: JSON lines on stderr, for every daemon and tool.

Each line is one object: ts, level, logger, event, then the request context and the
event's fields, then error. docs/logging.md describes the schema.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

_request_context: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "podnet_request_context", default=MappingProxyType({})
)

# A record that did not come from log_event (a library's, or Python's own warnings) is
# logged as this event, its text in "message".
FOREIGN_EVENT = "library_message"
CORE_KEYS = ("ts", "level", "logger", "event")

_EVENT = "podnet_event"
_FIELDS = "podnet_fields"
_ERROR = "podnet_error"
_STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {
    "message",
    "asctime",
    "taskName",
    _EVENT,
    _FIELDS,
    _ERROR,
}


def utc_timestamp(created: float) -> str:
    """2026-12-02T14:32:57.123Z"""
    moment = datetime.fromtimestamp(created, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def describe_error(error: BaseException) -> dict[str, str]:
    """type, message and (where it was raised) traceback of an exception."""
    described = {"type": type(error).__name__, "message": str(error)}
    if error.__traceback__ is not None:
        described["traceback"] = "".join(
            traceback.format_exception(type(error), error, error.__traceback__)
        ).rstrip()
    return described


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        event = getattr(record, _EVENT, None)
        line: dict[str, Any] = {
            "ts": utc_timestamp(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": event if isinstance(event, str) else FOREIGN_EVENT,
        }
        if event is None:
            line["message"] = record.getMessage()
        fields: dict[str, Any] = dict(_request_context.get())
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES:  # a library's logger.x("...", extra={...})
                fields[key] = value
        event_fields = getattr(record, _FIELDS, None)
        if isinstance(event_fields, Mapping):
            fields.update(event_fields)
        for key, value in fields.items():
            line[f"field_{key}" if key in CORE_KEYS or key == "error" else key] = value
        error = getattr(record, _ERROR, None)
        if record.exc_info and record.exc_info[1] is not None:
            error = record.exc_info[1]
        if isinstance(error, BaseException):
            line["error"] = describe_error(error)
        return json.dumps(line, default=str)


def configure_logging(level: str, *own_loggers: str) -> None:
    """JSON lines on stderr at level. With own_loggers named, only those log below
    WARNING; the rest (asyncio, grpc, etcd client) get through with warnings and worse."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLineFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    if own_loggers:
        root.setLevel(logging.WARNING)
        for name in own_loggers:
            logging.getLogger(name).setLevel(level.upper())
    else:
        root.setLevel(level.upper())
    logging.captureWarnings(True)


@contextmanager
def request_context(**fields: str) -> Iterator[None]:
    """Binds fields (container id, netns, ifname, pod) to every log line inside."""
    token = _request_context.set({**_request_context.get(), **fields})
    try:
        yield
    finally:
        _request_context.reset(token)


def log_event(
    logger: logging.Logger,
    event: str,
    level: int = logging.INFO,
    *,
    error: BaseException | None = None,
    **fields: Any,
) -> None:
    """Logs event (a snake_case name) with its fields, and the exception that caused it."""
    if logger.isEnabledFor(level):
        logger.log(level, event, extra={_EVENT: event, _FIELDS: fields, _ERROR: error})


def monotonic_ms(start: float) -> float:
    return round((time.monotonic() - start) * 1000, 2)
