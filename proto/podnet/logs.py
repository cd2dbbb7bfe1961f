"""JSON-lines logging to stderr with per-request context (the agent, the lab, churn)."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import Any

_request_context: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "podnet_request_context", default=MappingProxyType({})
)


_STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


class JsonLineFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": round(record.created, 3),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        line.update(_request_context.get())
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES:  # logger.x("...", extra={...})
                line[key] = value
        fields = line.pop("fields", None)
        if isinstance(fields, Mapping):  # log_event's
            line.update(fields)
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLineFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())


@contextmanager
def request_context(**fields: str) -> Iterator[None]:
    """Binds fields (container id, netns, ifname, pod) to every log line inside."""
    token = _request_context.set({**_request_context.get(), **fields})
    try:
        yield
    finally:
        _request_context.reset(token)


def log_event(logger: logging.Logger, event: str, level: int = logging.INFO, **fields: Any) -> None:
    logger.log(level, event, extra={"fields": {"event": event, **fields}})


def monotonic_ms(start: float) -> float:
    return round((time.monotonic() - start) * 1000, 2)
