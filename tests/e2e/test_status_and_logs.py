"""The agent's /status tells its state (no log parsing); every log line of the agent and
ipamd, after real CNI traffic and an ipamd outage, follows the one schema."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import NetnsFactory
from tests.e2e.single_node import IPAMD_HTTP_PORT, SingleNode
from tests.log_schema import assert_log_follows_schema
from tools.lab.processes import wait_until

K8S_ARGS = "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;K8S_POD_UID=abc-123"


def status_of(node: SingleNode) -> dict[str, Any]:
    code, body = node.http_get("/status")
    assert code == 200, body
    document: dict[str, Any] = json.loads(body)
    return document


def test_status_follows_pods_ipamd_and_the_spool_and_every_log_line_follows_the_schema(
    node: SingleNode, netns: NetnsFactory
) -> None:
    cidr = node.conflist["plugins"][0]["nodeRange"]
    assert status_of(node) == {
        "node": "node-a",
        "range": cidr,
        "fenced": False,
        "fenced_reason": None,
        "ipamd_stream_connected": True,
        "peer_ranges": [],
        "attachments": 0,
        "spool_length": 0,
    }
    pods = [netns("pod") for _ in range(2)]
    for index, pod in enumerate(pods):
        added = node.cni("ADD", f"ctr-{index}", f"/run/netns/{pod}", args=K8S_ARGS)
        assert added.returncode == 0, added.stdout + added.stderr
    assert status_of(node)["attachments"] == 2
    failed = node.cni("ADD", "ctr-0", "/run/netns/no-such-netns", args=K8S_ARGS)
    assert failed.returncode != 0

    node.stop_ipamd()
    wait_until(lambda: not status_of(node)["ipamd_stream_connected"], 10, "stream lost")
    deleted = node.cni("DEL", "ctr-1", f"/run/netns/{pods[1]}", args=K8S_ARGS)
    assert deleted.returncode == 0, deleted.stdout + deleted.stderr
    status = status_of(node)
    assert (status["attachments"], status["spool_length"]) == (1, 1)

    node.start_ipamd()
    wait_until(lambda: status_of(node)["spool_length"] == 0, 20, "spooled DEL replayed")
    wait_until(lambda: status_of(node)["ipamd_stream_connected"], 20, "stream resumed")
    assert node.http_get("/metrics", IPAMD_HTTP_PORT)[0] == 200
    node.stop_all()

    agent = assert_log_follows_schema((node.state / "agent.log").read_text(), "agent log")
    events = {line["event"] for line in agent}
    for wanted in ("range_acquired", "ready", "pod_attached", "cni_done", "cni_error"):
        assert wanted in events, sorted(events)
    for wanted in ("release_spooled", "spool_replayed", "peer_stream_lost", "stopping"):
        assert wanted in events, sorted(events)
    attached = next(line for line in agent if line["event"] == "pod_attached")
    assert attached["container_id"] == "ctr-0" and attached["pod"] == "default/web-0"
    ipamd = assert_log_follows_schema((node.state / "ipamd.log").read_text(), "ipamd log")
    assert {"serving", "stopping", "node_range_claimed"} <= {line["event"] for line in ipamd}
