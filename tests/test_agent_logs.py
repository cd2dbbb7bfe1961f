"""podnet.logs writes the one schema: core keys first, fields, then error."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from podnet.logs import JsonLineFormatter, log_event, request_context

from tests.log_schema import schema_errors


@pytest.fixture
def captured() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonLineFormatter())
    logger = logging.getLogger("podnet.test.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, buffer
    logger.removeHandler(handler)


def test_event_fields_and_request_context_reach_the_line_in_order(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, buffer = captured
    with request_context(container_id="ctr-1", netns="/run/netns/p"):
        log_event(logger, "pod_added", address="10.244.1.2/24", ts="clash")
    (line,) = buffer.getvalue().splitlines()
    assert schema_errors(line) == []
    document = json.loads(line)
    assert list(document) == [
        "ts", "level", "logger", "event", "container_id", "netns", "address", "field_ts",
    ]  # fmt: skip
    assert (document["event"], document["level"], document["container_id"]) == (
        "pod_added",
        "info",
        "ctr-1",
    )
    assert document["ts"].endswith("Z") and len(document["ts"]) == len("2026-12-02T14:32:57.123Z")


def test_an_exception_becomes_the_last_field_with_type_message_and_traceback(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, buffer = captured
    try:
        raise TimeoutError("etcd did not answer")
    except TimeoutError as error:
        log_event(logger, "renew_failed", logging.WARNING, error=error, attempt=2)
    (line,) = buffer.getvalue().splitlines()
    assert schema_errors(line) == []
    document = json.loads(line)
    assert list(document)[-2:] == ["attempt", "error"]
    assert document["error"]["type"] == "TimeoutError"
    assert document["error"]["message"] == "etcd did not answer"
    assert "raise TimeoutError" in document["error"]["traceback"]


def test_a_prose_line_is_kept_but_fails_the_schema_check_for_podnet_loggers(
    captured: tuple[logging.Logger, io.StringIO],
) -> None:
    logger, buffer = captured
    logger.info("pod attached")
    library_logger = logging.getLogger("aiohttp.test")
    library_logger.addHandler(logger.handlers[0])
    library_logger.propagate = False
    try:
        library_logger.warning("some library warning %d", 3)
    finally:
        library_logger.removeHandler(logger.handlers[0])
    own, library = buffer.getvalue().splitlines()
    assert json.loads(own)["message"] == "pod attached"
    assert schema_errors(own) != []
    assert schema_errors(library) == []
    assert json.loads(library)["message"] == "some library warning 3"
