"""A "docker network" for node namespaces: one bridge in its own namespace."""

from __future__ import annotations

from tests.dataplane.kernel_view import ip

BRIDGE = "br0"


def make_network(network_ns: str) -> None:
    ip(network_ns, "link", "add", BRIDGE, "type", "bridge")
    ip(network_ns, "link", "set", BRIDGE, "up")


def plug_node(network_ns: str, node_ns: str, address: str, port: str) -> None:
    """Gives node_ns an eth0 with address (e.g. 172.18.0.2/16) on the network's bridge."""
    ip(network_ns, "link", "add", port, "type", "veth", "peer", "name", "eth0", "netns", node_ns)
    ip(network_ns, "link", "set", port, "master", BRIDGE, "up")
    ip(node_ns, "addr", "add", address, "dev", "eth0")
    ip(node_ns, "link", "set", "eth0", "up")
