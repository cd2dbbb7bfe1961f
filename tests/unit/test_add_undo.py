"""ADD undoes exactly its own partial work, whichever step fails, and reports that step's
error: nothing spent before a refusal, the address released after a failed attach, the
veth detached and the address released after a failed host port mapping."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from netagent.dataplane.errors import NetlinkOperationFailed
from netagent.dataplane.host_port_rules import HostPortRule
from netagent.dataplane.naming import host_veth_name
from netagent.errors import IpamRangeExhausted, IpamUnavailable
from tests.unit.cni_calls import host_port, invocation
from tests.unit.conftest import Node

pytestmark = pytest.mark.unit


async def test_add_wires_the_pod_and_maps_its_host_ports(node: Node) -> None:
    outcome = await node.add("c1", runtimeConfig={"portMappings": [host_port(8080)]})
    assert outcome.exit_code == 0, outcome.document
    assert [ip["address"] for ip in outcome.document["ips"]] == ["10.244.1.2/24"]
    veth = node.dataplane.veths[host_veth_name("c1", "eth0")]
    assert veth.address == ipaddress.IPv4Interface("10.244.1.2/24")
    assert node.dataplane.host_ports == {
        HostPortRule("tcp", 8080, ipaddress.IPv4Address("10.244.1.2"), 80)
    }
    assert set(node.ipamd.allocations) == {("c1", "eth0")}


@pytest.mark.parametrize(
    ("error", "code"), [(IpamRangeExhausted("range full"), 100), (IpamUnavailable("down"), 11)]
)
async def test_failed_allocation_leaves_nothing_to_undo(
    node: Node, error: Exception, code: int
) -> None:
    node.ipamd.fail["allocate"] = error
    outcome = await node.add("c1")
    assert (outcome.exit_code, outcome.code) == (1, code)
    assert str(error) in outcome.document["details"]
    assert node.dataplane.calls_to("attach") == []
    assert node.dataplane.veths == {}
    assert "release" not in node.ipamd.calls


async def test_refused_netns_spends_no_address(node: Node) -> None:
    outcome = await node.add("c1", netns="/run/netns/never-made")
    assert outcome.code == 3  # UNKNOWN_CONTAINER
    assert "allocate" not in node.ipamd.calls
    assert node.ipamd.allocations == {}


async def test_failed_attach_releases_the_address(node: Node) -> None:
    node.dataplane.fail["attach"] = NetlinkOperationFailed("RTM_NEWLINK", 17, "File exists")
    outcome = await node.add("c1")
    assert (outcome.code, outcome.document["msg"]) == (102, "network setup failed")
    assert "RTM_NEWLINK" in outcome.document["details"]
    assert node.ipamd.released == [("c1", "eth0")]
    assert node.ipamd.allocations == {}
    # attach undoes its own partial veth; the service has nothing to detach.
    assert node.dataplane.calls_to("detach") == []
    assert node.in_use() == 0


async def test_failed_host_ports_detach_and_release_only_the_new_pod(node: Node) -> None:
    assert (await node.add("c1", runtimeConfig={"portMappings": [host_port(8080)]})).exit_code == 0
    held_before = set(node.dataplane.host_ports)

    outcome = await node.add(
        "c2", runtimeConfig={"portMappings": [host_port(9090), host_port(8080, 81)]}
    )

    assert (outcome.code, outcome.document["msg"]) == (
        102,
        "a requested host port is already in use on this node",
    )
    assert node.dataplane.calls_to("detach") == [host_veth_name("c2", "eth0")]
    assert set(node.dataplane.veths) == {host_veth_name("c1", "eth0")}
    assert node.ipamd.released == [("c2", "eth0")]
    assert set(node.ipamd.allocations) == {("c1", "eth0")}
    assert node.dataplane.host_ports == held_before


async def test_a_failed_undo_release_does_not_hide_the_original_error(node: Node) -> None:
    node.dataplane.fail["attach"] = NetlinkOperationFailed("RTM_NEWLINK", 1, "Operation not ok")
    node.ipamd.fail_release[("c1", "eth0")] = IpamUnavailable("ipamd went away")
    outcome = await node.add("c1")
    assert outcome.code == 102
    assert "RTM_NEWLINK" in outcome.document["details"]
    # The address stays allocated: GC or the next reconcile releases it.
    assert set(node.ipamd.allocations) == {("c1", "eth0")}


async def test_cancelled_add_releases_the_address(node: Node) -> None:
    node.dataplane.fail["attach"] = asyncio.CancelledError()
    netns = node.dataplane.add_netns("/run/netns/c1")
    with pytest.raises(asyncio.CancelledError):
        await node.handler(invocation("ADD", "c1", netns))
    assert node.ipamd.released == [("c1", "eth0")]
    assert node.dataplane.veths == {}
