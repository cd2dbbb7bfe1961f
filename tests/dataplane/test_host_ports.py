"""Host ports (the portMappings capability): nft map elements DNAT to the pod."""

from __future__ import annotations

import subprocess
import sys
from ipaddress import IPv4Address

import pytest

from netagent import dataplane
from netagent.dataplane import HostPortRule, HostPortTaken, NftablesFailed
from tests.conftest import NetnsFactory
from tests.dataplane.conftest import Node, pod_spec
from tests.dataplane.topology import make_network, plug_node

NODE_IP, CLIENT_IP = "172.18.0.2", "172.18.0.100"

SERVE_ONCE = (
    "import socket,sys\n"
    "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
    "s.bind(('0.0.0.0', int(sys.argv[1]))); s.listen(); print('listening', flush=True)\n"
    "c, peer = s.accept(); c.sendall(('hello ' + peer[0]).encode()); c.close()\n"
)
CONNECT = (
    "import socket,sys\n"
    "c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)\n"
    "print(c.recv(100).decode())\n"
)


def rule(
    pod_ip: str,
    host_port: int,
    container_port: int = 80,
    protocol: str = "tcp",
    host_ip: str | None = None,
) -> HostPortRule:
    return HostPortRule(
        protocol,
        host_port,
        IPv4Address(pod_ip),
        container_port,
        IPv4Address(host_ip) if host_ip else None,
    )


def serve_once(netns: str, port: int) -> subprocess.Popen[str]:
    server = subprocess.Popen(
        ["ip", "netns", "exec", netns, sys.executable, "-c", SERVE_ONCE, str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdout is not None and server.stdout.readline().strip() == "listening"
    return server


def connect(netns: str, address: str, port: int) -> str:
    done = subprocess.run(
        ["ip", "netns", "exec", netns, sys.executable, "-c", CONNECT, address, str(port)],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    return done.stdout.strip() if done.returncode == 0 else f"failed: {done.stderr.strip()[-200:]}"


def test_host_port_reaches_the_pod_from_outside_and_from_the_node(
    node: Node, netns: NetnsFactory
) -> None:
    network, client, pod = netns("net"), netns("client"), netns("pod")
    make_network(network)
    plug_node(network, node.name, f"{NODE_IP}/16", "port1")
    plug_node(network, client, f"{CLIENT_IP}/16", "port2")
    node.loop.run(dataplane.enable_ipv4_forwarding())
    node.loop.run(dataplane.attach(pod_spec(pod, 2)))
    node.loop.run(dataplane.ensure_host_port_table())
    node.loop.run(dataplane.add_host_ports([rule("10.244.1.2", 18080)]))

    server = serve_once(pod, 80)
    # From outside: the client's own address reaches the pod (no source NAT).
    assert connect(client, NODE_IP, 18080) == f"hello {CLIENT_IP}"
    server.wait(5)
    server = serve_once(pod, 80)
    assert connect(node.name, NODE_IP, 18080) == f"hello {NODE_IP}"
    server.wait(5)

    node.loop.run(dataplane.remove_host_ports([rule("10.244.1.2", 18080)]))
    assert connect(client, NODE_IP, 18080).startswith("failed")


def test_host_ports_are_listed_kept_across_setup_and_conflicts_change_nothing(
    node: Node,
) -> None:
    first = [
        rule("10.244.1.2", 8080),
        rule("10.244.1.2", 53, 5353, "udp"),
        rule("10.244.1.2", 8443, 443, host_ip="172.18.0.2"),
    ]
    node.loop.run(dataplane.ensure_host_port_table())
    node.loop.run(dataplane.add_host_ports(first))
    assert node.loop.run(dataplane.list_host_ports()) == sorted(first)

    node.loop.run(dataplane.ensure_host_port_table())
    assert node.loop.run(dataplane.list_host_ports()) == sorted(first)

    clash = [rule("10.244.1.3", 9090), rule("10.244.1.3", 8080)]
    with pytest.raises(HostPortTaken) as taken:
        node.loop.run(dataplane.add_host_ports(clash))
    assert taken.value.taken == ("tcp . 8080 -> 10.244.1.2",)
    assert node.loop.run(dataplane.list_host_ports()) == sorted(first)

    node.loop.run(dataplane.remove_host_ports(first[:1]))
    node.loop.run(dataplane.remove_host_ports(first))
    assert node.loop.run(dataplane.list_host_ports()) == []
    node.loop.run(dataplane.remove_host_ports(first))


def test_a_failed_add_that_is_no_clash_is_not_reported_as_one(node: Node) -> None:
    """Without the table nft fails too, but no mapping holds the port."""
    with pytest.raises(NftablesFailed) as failed:
        node.loop.run(dataplane.add_host_ports([rule("10.244.1.2", 8080)]))
    assert not isinstance(failed.value, HostPortTaken)
