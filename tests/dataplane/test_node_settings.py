"""default_route_mtu() and enable_ipv4_forwarding() in the node namespace."""

from __future__ import annotations

from pathlib import Path

from netagent import dataplane
from tests.conftest import NetnsFactory
from tests.dataplane import kernel_view as kv
from tests.dataplane.conftest import Node
from tests.dataplane.netns_thread import call_in_netns
from tests.dataplane.topology import make_network, plug_node


def test_mtu_defaults_to_1500_without_a_default_route(node: Node) -> None:
    assert call_in_netns(node.name, dataplane.default_route_mtu) == 1500


def test_mtu_follows_the_default_route_device(node: Node, netns: NetnsFactory) -> None:
    network = netns("net")
    make_network(network)
    plug_node(network, node.name, "172.18.0.2/16", "port1")
    kv.ip(node.name, "link", "set", "eth0", "mtu", "1400")
    kv.ip(node.name, "route", "add", "default", "via", "172.18.0.1")

    assert call_in_netns(node.name, dataplane.default_route_mtu) == 1400


def test_forwarding_is_enabled_in_the_node_namespace_only(node: Node) -> None:
    root_before = Path("/proc/sys/net/ipv4/ip_forward").read_text()
    assert kv.sysctl(node.name, "net.ipv4.ip_forward") == "0"

    node.loop.run(dataplane.enable_ipv4_forwarding())

    assert kv.sysctl(node.name, "net.ipv4.ip_forward") == "1"
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text() == root_before
