"""The stand-in for kind's docker network: a bridge in its own namespace, nodes on it."""

from __future__ import annotations

import subprocess

from tools.lab.layout import DOCKER_NETWORK, EtcdMemberPlan, LabSettings, NodePlan, gateway_ip
from tools.lab.netns import create_netns, in_netns, run_ip

BRIDGE = "br0"


def create_bridge(settings: LabSettings) -> None:
    netns = settings.bridge_netns
    create_netns(netns)
    run_ip("link", "add", BRIDGE, "type", "bridge", netns=netns)
    run_ip("addr", "add", f"{gateway_ip()}/{DOCKER_NETWORK.prefixlen}", "dev", BRIDGE, netns=netns)
    run_ip("link", "set", BRIDGE, "up", netns=netns)


def _attach(settings: LabSettings, netns: str, ip: str, bridge_port: str) -> None:
    """A namespace with eth0 on the bridge, its address and a default route."""
    bridge_netns = settings.bridge_netns
    create_netns(netns)
    run_ip(
        "link", "add", bridge_port, "type", "veth",
        "peer", "name", "eth0", "netns", netns,
        netns=bridge_netns,
    )  # fmt: skip
    run_ip("link", "set", bridge_port, "master", BRIDGE, "up", netns=bridge_netns)
    run_ip("addr", "add", f"{ip}/{DOCKER_NETWORK.prefixlen}", "dev", "eth0", netns=netns)
    run_ip("link", "set", "eth0", "up", netns=netns)
    run_ip("route", "add", "default", "via", gateway_ip(), netns=netns)


def attach_etcd_member(settings: LabSettings, member: EtcdMemberPlan) -> None:
    """An etcd member's own namespace on the bridge (a member alone uses the control-plane's)."""
    if member.bridge_port is not None:
        _attach(settings, member.netns, member.ip, member.bridge_port)


def attach_node(settings: LabSettings, node: NodePlan) -> None:
    """A node namespace with eth0 on the bridge, its address and a default route."""
    _attach(settings, node.netns, node.ip, node.bridge_port)
    # Nodes route pod traffic, as kind's node containers do.
    subprocess.run(
        in_netns(node.netns, ["sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"]),
        check=True,
        capture_output=True,
        timeout=10,
    )
