"""The check every podnet log line must pass (the schema of docs/logging.md)."""

from __future__ import annotations

import json
import re
from typing import Any

TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
EVENT = re.compile(r"[a-z][a-z0-9]*(_[a-z0-9]+)*")
LEVELS = {"debug", "info", "warning", "error", "critical"}
OWN_LOGGERS = ("podnet", "ipamd", "netagent", "tools")
RETIRED_KEYS = {"msg", "exc", "exception", "message"}


def schema_errors(line: str) -> list[str]:
    """What is wrong with one log line; empty when it follows the schema."""
    try:
        document: Any = json.loads(line)
    except ValueError:
        return ["not JSON"]
    if not isinstance(document, dict):
        return ["not a JSON object"]
    keys = list(document)
    problems = []
    if keys[:4] != ["ts", "level", "logger", "event"]:
        problems.append(f"starts with {keys[:4]}, not ts, level, logger, event")
    if not TIMESTAMP.fullmatch(str(document.get("ts"))):
        problems.append(f"ts {document.get('ts')!r} is not ISO-8601 UTC with milliseconds")
    if document.get("level") not in LEVELS:
        problems.append(f"level {document.get('level')!r}")
    logger = document.get("logger")
    if not isinstance(logger, str) or not logger:
        problems.append("no logger")
    event = document.get("event")
    if not isinstance(event, str) or not EVENT.fullmatch(event):
        problems.append(f"event {event!r} is not a snake_case identifier")
    own = isinstance(logger, str) and logger.startswith(OWN_LOGGERS)
    if own and (event == "library_message" or RETIRED_KEYS & set(keys)):
        problems.append("podnet's own line without log_event (prose, msg or exc)")
    if "error" in document:
        error = document["error"]
        if keys[-1] != "error":
            problems.append("error is not the last field")
        if not isinstance(error, dict) or not all(
            isinstance(error.get(part), str) for part in ("type", "message", "traceback")
        ):
            problems.append(f"error {error!r} lacks type, message or traceback")
    return problems


def assert_log_follows_schema(text: str, name: str) -> list[dict[str, Any]]:
    """Every line of text passes; returns the parsed lines."""
    lines = text.splitlines()
    assert lines, f"{name}: empty log"
    bad = [(line, problems) for line in lines if (problems := schema_errors(line))]
    assert not bad, f"{name}: {len(bad)} of {len(lines)} lines break the schema: " + "\n".join(
        f"{problems}: {line[:300]}" for line, problems in bad[:5]
    )
    return [json.loads(line) for line in lines]
