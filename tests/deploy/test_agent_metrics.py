"""The agent's /metrics, scraped from a real agent: names follow Prometheus conventions
(checked by promtool too), and the spool gauge the alerts use follows the spool."""

from __future__ import annotations

import subprocess

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import NetnsFactory
from tests.e2e.single_node import SingleNode
from tools.lab.processes import wait_until

TIME_WORDS = ("duration", "latency", "time", "age")


def _scrape(node: SingleNode) -> str:
    status, body = node.http_get("/metrics")
    assert status == 200
    return body


def _sample(body: str, name: str) -> float | None:
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if sample.name == name and not sample.labels:
                return float(sample.value)
    return None


def test_metric_names_follow_prometheus_conventions(node: SingleNode, netns: NetnsFactory) -> None:
    pod = netns("pod")
    assert node.cni("ADD", "ctr-1", f"/run/netns/{pod}").returncode == 0
    body = _scrape(node)
    families = list(text_string_to_metric_families(body))
    names = {family.name for family in families}
    assert {
        "podnet_cni_request_duration_seconds",
        "podnet_allocations_in_use",
        "podnet_node_range_held",
        "podnet_peer_routes",
        "podnet_spool_pending_dels",
        "podnet_spooled_dels_replayed",
    } <= names
    for family in families:
        assert family.name.startswith("podnet_"), family.name
        if family.type == "histogram" and any(word in family.name for word in TIME_WORDS):
            assert family.name.endswith("_seconds"), family.name
        if family.type == "counter":
            assert all(s.name.endswith(("_total", "_created")) for s in family.samples), family.name
    lint = subprocess.run(
        ["promtool", "check", "metrics"], input=body, capture_output=True, text=True, check=False
    )
    assert lint.returncode == 0, lint.stdout + lint.stderr


def test_spool_gauge_counts_dels_waiting_and_drops_after_replay(
    node: SingleNode, netns: NetnsFactory
) -> None:
    pod = netns("pod")
    assert node.cni("ADD", "ctr-1", f"/run/netns/{pod}").returncode == 0
    assert _sample(_scrape(node), "podnet_spool_pending_dels") == 0

    node.stop_agent()
    assert node.cni("DEL", "ctr-1", f"/run/netns/{pod}").returncode == 0  # spooled by the shim
    node.stop_ipamd()
    node.start_agent(wait_ready=False)  # cannot replay: no ipamd, so no range
    wait_until(
        lambda: (
            node.http_get("/metrics")[0] == 200
            and _sample(node.http_get("/metrics")[1], "podnet_spool_pending_dels") == 1
        ),
        20,
        "the agent reports one spooled DEL",
    )
    assert _sample(_scrape(node), "podnet_node_range_held") == 0  # fenced meanwhile

    node.start_ipamd()
    wait_until(node.agent_ready, 30, "agent ready after ipamd is back")
    wait_until(
        lambda: _sample(_scrape(node), "podnet_spool_pending_dels") == 0,
        15,
        "the spool drained",
    )
    body = _scrape(node)
    assert _sample(body, "podnet_spooled_dels_replayed_total") == 1
    assert _sample(body, "podnet_node_range_held") == 1
