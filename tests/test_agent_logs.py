"""The agent's JSON log lines keep every field, whichever way it was logged."""

from __future__ import annotations

import io
import json
import logging

from podnet.logs import JsonLineFormatter, log_event, request_context


def test_extra_fields_log_event_fields_and_request_context_all_reach_the_line() -> None:
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setFormatter(JsonLineFormatter())
    logger = logging.getLogger("podnet.test.logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    with request_context(container_id="ctr-1"):
        logger.info("pod attached", extra={"host_veth": "veth0123abcd"})
        log_event(logger, "pod_added", address="10.244.1.2/24")
    first, second = (json.loads(line) for line in buffer.getvalue().splitlines())
    assert first["msg"] == "pod attached"
    assert (first["host_veth"], first["container_id"]) == ("veth0123abcd", "ctr-1")
    assert (second["event"], second["address"]) == ("pod_added", "10.244.1.2/24")
    assert "fields" not in second
