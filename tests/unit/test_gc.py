"""CNI GC releases every allocation and removes every veth of this node that is not among
the valid attachments; one that fails does not stop the others, and GC reports each."""

from __future__ import annotations

import pytest

from netagent.dataplane.errors import NetlinkOperationFailed
from netagent.dataplane.naming import host_veth_name
from netagent.errors import IpamRejected, IpamUnavailable
from tests.unit.cni_calls import Outcome, call, host_port, invocation
from tests.unit.conftest import Node

pytestmark = pytest.mark.unit


def veth(container_id: str) -> str:
    return host_veth_name(container_id, "eth0")


async def gc(node: Node, *valid: str) -> Outcome:
    attachments = [{"containerID": c, "ifname": "eth0"} for c in valid]
    request = invocation("GC", config={"cni.dev/valid-attachments": attachments})
    return await call(node.handler, request)


async def test_gc_goes_on_past_failed_releases_and_reports_them(node: Node) -> None:
    for container_id in ("keep", "a", "b"):
        ports = [host_port(8000 + len(container_id))] if container_id == "keep" else []
        outcome = await node.add(container_id, runtimeConfig={"portMappings": ports})
        assert outcome.exit_code == 0
    node_range = node.holder.require()
    node.ipamd.give(node_range, "c")  # an allocation whose ADD never wired a veth
    stray = node.dataplane.add_veth("x")  # a veth with no allocation
    node.ipamd.fail_release[("b", "eth0")] = IpamUnavailable("ipamd timed out")
    node.ipamd.fail_release[("c", "eth0")] = IpamRejected("ipamd refused: INTERNAL")
    ports_of_keep = set(node.dataplane.host_ports)

    outcome = await gc(node, "keep")

    assert outcome.code == 11
    details = outcome.document["details"]
    assert "b/eth0: ipamd timed out" in details
    assert "c/eth0: ipamd refused: INTERNAL" in details
    assert "a/eth0" not in details and "keep" not in details
    assert node.ipamd.released == [("a", "eth0")]
    assert set(node.ipamd.allocations) == {("keep", "eth0"), ("b", "eth0"), ("c", "eth0")}
    assert set(node.dataplane.veths) == {veth("keep")}
    assert stray in node.dataplane.calls_to("detach")
    assert node.dataplane.host_ports == ports_of_keep
    assert node.in_use() == 3 - 1


async def test_gc_goes_on_past_a_veth_it_cannot_remove(node: Node) -> None:
    for container_id in ("a", "b"):
        assert (await node.add(container_id)).exit_code == 0
    stray = node.dataplane.add_veth("x")
    node.dataplane.fail_detach[veth("a")] = NetlinkOperationFailed("RTM_DELLINK", 16, "Busy")

    outcome = await gc(node)

    assert outcome.code == 11
    assert "RTM_DELLINK" in outcome.document["details"]
    assert node.ipamd.released == [("b", "eth0")]
    # a's address stays allocated while its veth is there: GC or reconcile retries both.
    assert set(node.ipamd.allocations) == {("a", "eth0")}
    assert set(node.dataplane.veths) == {veth("a")}
    assert stray not in node.dataplane.veths


async def test_gc_with_everything_valid_changes_nothing(node: Node) -> None:
    assert (await node.add("a")).exit_code == 0
    outcome = await gc(node, "a")
    assert (outcome.exit_code, outcome.document) == (0, {})
    assert node.dataplane.calls_to("detach") == []
    assert "release" not in node.ipamd.calls
