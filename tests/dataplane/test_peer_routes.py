"""sync_peer_routes(): converge podnet's routes to other nodes' ranges."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Interface, IPv4Network

import pytest

from netagent import dataplane
from netagent.dataplane import (
    PeerRoute,
    PeerRouteSyncFailed,
    PodNetworkSpec,
    RouteDiff,
    host_veth_name,
)
from tests.conftest import NetnsFactory
from tests.dataplane import kernel_view as kv
from tests.dataplane.conftest import Node
from tests.dataplane.netns_thread import NetnsEventLoop
from tests.dataplane.topology import make_network, plug_node
from tools.lab.netns import NETNS_DIR

PODNET_PROTO = "112"  # 0x70 as iproute2 prints it


def _net(text: str) -> IPv4Network:
    return IPv4Network(text)


def _ip(text: str) -> IPv4Address:
    return IPv4Address(text)


def _routes_by_proto(node: str) -> dict[str, set[tuple[str, str | None]]]:
    found: dict[str, set[tuple[str, str | None]]] = {}
    for route in kv.ipv4_routes(node):
        protocol = str(route.get("protocol", "boot"))
        found.setdefault(protocol, set()).add((route["dst"], route.get("gateway")))
    return found


@pytest.fixture
def plugged_node(node: Node, netns: NetnsFactory) -> Node:
    network = netns("net")
    make_network(network)
    plug_node(network, node.name, "172.18.0.2/16", "port2")
    return node


def test_sync_converges_and_leaves_foreign_routes_alone(plugged_node: Node) -> None:
    node = plugged_node
    kv.ip(node.name, "route", "add", "10.244.9.0/24", "via", "172.18.0.9")
    kv.ip(node.name, "route", "add", "10.244.2.0/24", "via", "172.18.0.7", "metric", "500")

    first = node.loop.run(
        dataplane.sync_peer_routes(
            {_net("10.244.2.0/24"): _ip("172.18.0.3"), _net("10.244.3.0/24"): _ip("172.18.0.4")}
        )
    )
    assert first == RouteDiff(
        add=(
            PeerRoute(_net("10.244.2.0/24"), _ip("172.18.0.3")),
            PeerRoute(_net("10.244.3.0/24"), _ip("172.18.0.4")),
        )
    )
    assert _routes_by_proto(node.name)[PODNET_PROTO] == {
        ("10.244.2.0/24", "172.18.0.3"),
        ("10.244.3.0/24", "172.18.0.4"),
    }
    assert kv.ip_json(node.name, "-4", "route", "get", "10.244.2.5")[0]["dev"] == "eth0"

    second = node.loop.run(
        dataplane.sync_peer_routes(
            {_net("10.244.2.0/24"): _ip("172.18.0.5"), _net("10.244.4.0/24"): _ip("172.18.0.6")}
        )
    )
    assert second == RouteDiff(
        delete=(PeerRoute(_net("10.244.3.0/24"), _ip("172.18.0.4")),),
        replace=(PeerRoute(_net("10.244.2.0/24"), _ip("172.18.0.5")),),
        add=(PeerRoute(_net("10.244.4.0/24"), _ip("172.18.0.6")),),
    )
    routes = _routes_by_proto(node.name)
    assert routes[PODNET_PROTO] == {
        ("10.244.2.0/24", "172.18.0.5"),
        ("10.244.4.0/24", "172.18.0.6"),
    }
    assert ("10.244.9.0/24", "172.18.0.9") in routes["boot"]
    assert ("10.244.2.0/24", "172.18.0.7") in routes["boot"]

    desired = {_net("10.244.2.0/24"): _ip("172.18.0.5"), _net("10.244.4.0/24"): _ip("172.18.0.6")}
    assert node.loop.run(dataplane.sync_peer_routes(desired)).is_empty

    assert node.loop.run(dataplane.sync_peer_routes({})) == RouteDiff(
        delete=(
            PeerRoute(_net("10.244.2.0/24"), _ip("172.18.0.5")),
            PeerRoute(_net("10.244.4.0/24"), _ip("172.18.0.6")),
        )
    )
    routes = _routes_by_proto(node.name)
    assert PODNET_PROTO not in routes
    assert {("10.244.9.0/24", "172.18.0.9"), ("10.244.2.0/24", "172.18.0.7")} <= routes["boot"]


def test_sync_programs_what_it_can_and_reports_the_rest(plugged_node: Node) -> None:
    node = plugged_node
    desired = {
        _net("10.244.2.0/24"): _ip("172.18.0.3"),
        _net("10.244.3.0/24"): _ip("192.0.2.1"),  # no route to this next hop
    }
    with pytest.raises(PeerRouteSyncFailed) as failure:
        node.loop.run(dataplane.sync_peer_routes(desired))

    assert len(failure.value.failures) == 1
    assert "10.244.3.0/24" in failure.value.failures[0]
    assert _routes_by_proto(node.name)[PODNET_PROTO] == {("10.244.2.0/24", "172.18.0.3")}


def test_pods_on_two_nodes_reach_each_other(netns: NetnsFactory) -> None:
    """The kindnet model end to end: veths, /32 routes, one route per peer range."""
    network = netns("net")
    make_network(network)
    nodes = {"172.18.0.2": netns("node"), "172.18.0.3": netns("node")}
    ranges = {"172.18.0.2": _net("10.244.1.0/24"), "172.18.0.3": _net("10.244.2.0/24")}
    pods: dict[str, str] = {}
    for number, (node_ip, node_ns) in enumerate(nodes.items()):
        plug_node(network, node_ns, f"{node_ip}/16", f"port{number}")
        pod_range = ranges[node_ip]
        pod_ns = netns("pod")
        pods[node_ip] = pod_ns
        peer_ip = next(other for other in nodes if other != node_ip)
        spec = PodNetworkSpec(
            netns=NETNS_DIR / pod_ns,
            ifname="eth0",
            host_ifname=host_veth_name(f"ctr-{pod_ns}", "eth0"),
            address=IPv4Interface(f"{pod_range.network_address + 2}/24"),
            gateway=pod_range.network_address + 1,
            pod_range=pod_range,
            mtu=1500,
        )
        with NetnsEventLoop(node_ns) as loop:
            loop.run(dataplane.enable_ipv4_forwarding())
            loop.run(dataplane.attach(spec))
            loop.run(dataplane.sync_peer_routes({ranges[peer_ip]: _ip(peer_ip)}))

    assert kv.ping(pods["172.18.0.2"], "10.244.2.2")
    assert kv.ping(pods["172.18.0.3"], "10.244.1.2")
