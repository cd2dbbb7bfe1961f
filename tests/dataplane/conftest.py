"""Fixtures for dataplane tests: a node namespace with an event loop living in it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network

import pytest

from netagent.dataplane import PodNetworkSpec, host_veth_name
from tests.conftest import NetnsFactory
from tests.dataplane.netns_thread import NetnsEventLoop
from tools.lab.netns import NETNS_DIR

POD_RANGE = IPv4Network("10.244.1.0/24")
GATEWAY = IPv4Address("10.244.1.1")
CLUSTER_CIDR = IPv4Network("10.244.0.0/16")


@dataclass
class Node:
    """A node namespace and an event loop living in it, to run dataplane calls on."""

    name: str
    loop: NetnsEventLoop


@pytest.fixture
def node(netns: NetnsFactory) -> Iterator[Node]:
    name = netns("node")
    with NetnsEventLoop(name) as loop:
        yield Node(name, loop)


def pod_spec(netns_name: str, host_number: int, container_id: str | None = None) -> PodNetworkSpec:
    """Spec for a pod at 10.244.1.<host_number>/24 in /run/netns/<netns_name>."""
    container_id = container_id or f"ctr-{netns_name}"
    return PodNetworkSpec(
        netns=NETNS_DIR / netns_name,
        ifname="eth0",
        host_ifname=host_veth_name(container_id, "eth0"),
        address=IPv4Interface(f"{POD_RANGE.network_address + host_number}/24"),
        gateway=GATEWAY,
        pod_range=POD_RANGE,
        mtu=1450,
        container_id=container_id,
    )
