"""apply_masquerade(): podnet's nftables table, its rule, its effect on packets."""

from __future__ import annotations

from ipaddress import IPv4Network
from typing import Any

import pytest

from netagent import dataplane
from netagent.dataplane import DataplaneConfig, NftablesFailed
from netagent.dataplane.masquerade_rules import masquerade_script
from netagent.dataplane.nft import run_nft
from tests.conftest import NetnsFactory
from tests.dataplane import kernel_view as kv
from tests.dataplane.conftest import CLUSTER_CIDR, POD_RANGE, Node, pod_spec
from tests.dataplane.topology import make_network, plug_node

EXTERNAL = "172.18.0.100"


def _rules(items: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    return [item["rule"]["expr"] for item in items if "rule" in item]


def _prefix(expression: dict[str, Any]) -> str:
    prefix = expression["match"]["right"]["prefix"]
    return f"{prefix['addr']}/{prefix['len']}"


def _masquerade_summary(items: list[dict[str, Any]]) -> list[tuple[str, str, str, str]]:
    """(saddr prefix, op, daddr prefix, action) for each rule of the table."""
    summary = []
    for expr in _rules(items):
        saddr, daddr, *_, action = expr
        assert saddr["match"]["left"]["payload"]["field"] == "saddr"
        assert daddr["match"]["left"]["payload"]["field"] == "daddr"
        summary.append((_prefix(saddr), daddr["match"]["op"], _prefix(daddr), next(iter(action))))
    return summary


def _counter_packets(items: list[dict[str, Any]]) -> int:
    return sum(e["counter"]["packets"] for expr in _rules(items) for e in expr if "counter" in e)


def _chain(items: list[dict[str, Any]]) -> dict[str, Any]:
    chains = [item["chain"] for item in items if "chain" in item]
    assert len(chains) == 1
    chain: dict[str, Any] = chains[0]
    return chain


def test_masquerade_table_is_replaced_not_appended_and_removed(node: Node) -> None:
    node.loop.run(dataplane.apply_masquerade(CLUSTER_CIDR, POD_RANGE))
    items = kv.nft_table(node.name, "podnet")
    assert items is not None
    chain = _chain(items)
    assert (chain["type"], chain["hook"], chain["prio"]) == ("nat", "postrouting", 100)
    assert _masquerade_summary(items) == [("10.244.1.0/24", "!=", "10.244.0.0/16", "masquerade")]

    node.loop.run(dataplane.apply_masquerade(CLUSTER_CIDR, IPv4Network("10.244.7.0/24")))
    items = kv.nft_table(node.name, "podnet")
    assert items is not None
    assert _masquerade_summary(items) == [("10.244.7.0/24", "!=", "10.244.0.0/16", "masquerade")]

    node.loop.run(dataplane.apply_masquerade(CLUSTER_CIDR, None))
    items = kv.nft_table(node.name, "podnet")
    assert items is not None
    assert _masquerade_summary(items) == [("10.244.0.0/16", "!=", "10.244.0.0/16", "masquerade")]

    node.loop.run(dataplane.apply_masquerade(CLUSTER_CIDR, POD_RANGE, enabled=False))
    assert kv.nft_table(node.name, "podnet") is None
    node.loop.run(dataplane.remove_masquerade())  # removing twice is fine
    assert kv.nft_table(node.name, "podnet") is None


def test_a_failing_transaction_leaves_the_previous_table(node: Node) -> None:
    config = DataplaneConfig()
    node.loop.run(dataplane.apply_masquerade(CLUSTER_CIDR, POD_RANGE))
    broken = masquerade_script("podnet", CLUSTER_CIDR, IPv4Network("10.244.7.0/24"))
    broken += "add rule ip podnet postrouting no-such-expression\n"

    with pytest.raises(NftablesFailed):
        node.loop.run(run_nft(broken, config))

    items = kv.nft_table(node.name, "podnet")
    assert items is not None
    assert _masquerade_summary(items) == [("10.244.1.0/24", "!=", "10.244.0.0/16", "masquerade")]


def test_only_traffic_leaving_the_cluster_is_masqueraded(node: Node, netns: NetnsFactory) -> None:
    """The external host has no route back to pods: it can answer only masqueraded pings."""
    network, external = netns("net"), netns("ext")
    make_network(network)
    plug_node(network, node.name, "172.18.0.2/16", "port1")
    plug_node(network, external, f"{EXTERNAL}/16", "port2")
    first, second = netns("pod"), netns("pod")
    node.loop.run(dataplane.enable_ipv4_forwarding())
    node.loop.run(dataplane.attach(pod_spec(first, 2)))
    node.loop.run(dataplane.attach(pod_spec(second, 3)))

    assert not kv.ping(first, EXTERNAL, timeout=0.5)

    node.loop.run(dataplane.apply_masquerade(CLUSTER_CIDR, POD_RANGE))
    assert kv.ping(first, "10.244.1.3")
    items = kv.nft_table(node.name, "podnet")
    assert items is not None and _counter_packets(items) == 0
    assert kv.ping(first, EXTERNAL)
    items = kv.nft_table(node.name, "podnet")
    assert items is not None and _counter_packets(items) == 1

    node.loop.run(dataplane.remove_masquerade())
    assert not kv.ping(first, EXTERNAL, timeout=0.5)
