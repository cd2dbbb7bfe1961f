"""Fencing: ADD gets "try again later" (11) while the node holds no range or is
reconciling its pods with ipamd, and is served again after; STATUS answers 50 while the
node is fenced or ipamd is unreachable."""

from __future__ import annotations

import asyncio

import pytest

from netagent.dataplane.naming import host_veth_name
from netagent.errors import IpamUnavailable
from tests.unit.cni_calls import call, invocation
from tests.unit.conftest import NODE, AgentStarter, Node, eventually
from tests.unit.fake_dataplane import FakeDataplane
from tests.unit.fake_ipamd import FakeIpamd

pytestmark = pytest.mark.unit


async def test_add_is_refused_while_reconciling_and_served_after(node: Node) -> None:
    node.service.stop_serving_adds()
    refused = await node.add("c1")
    assert (refused.code, refused.document["msg"]) == (11, "node holds no pod range")
    assert "reconciling" in refused.document["details"]
    assert node.dataplane.calls_to("prepared_attach") == []
    assert "allocate" not in node.ipamd.calls

    node.service.start_serving_adds()
    assert (await node.add("c1")).exit_code == 0


async def test_status_answers_50_while_ipamd_is_unreachable(node: Node) -> None:
    status = invocation("STATUS")
    assert (await call(node.handler, status)).exit_code == 0
    node.ipamd.go_down()
    outcome = await call(node.handler, status)
    assert (outcome.code, outcome.document["msg"]) == (50, "podnet is not ready")
    node.ipamd.come_back()
    assert (await call(node.handler, status)).exit_code == 0


async def test_lost_range_fences_add_and_status_until_a_range_is_held_again(node: Node) -> None:
    ipamd = node.ipamd
    ipamd.lease_ttl_seconds = 1  # keep_alive renews every 1/3 s
    await node.holder.acquire()
    stop = asyncio.Event()
    keep_alive = asyncio.create_task(node.holder.keep_alive(stop))
    try:
        ipamd.reclaim(NODE)
        ipamd.fail["acquire_range"] = IpamUnavailable("ipamd is restarting")
        await eventually(lambda: node.holder.current is None, "the node to fence itself")

        refused = await node.add("c1")
        assert refused.code == 11
        assert f"node {NODE} holds no pod range" in refused.document["details"]
        assert "allocate" not in ipamd.calls
        status = await call(node.handler, invocation("STATUS"))
        assert status.code == 50

        del ipamd.fail["acquire_range"]
        await eventually(lambda: node.holder.current is not None, "a range held again")
        assert (await node.add("c1")).exit_code == 0
        assert (await call(node.handler, invocation("STATUS"))).exit_code == 0
    finally:
        stop.set()
        await keep_alive


async def test_agent_fences_add_until_its_start_up_reconcile_is_done(agents: AgentStarter) -> None:
    ipamd, dataplane = FakeIpamd(), FakeDataplane()
    ipamd.list_gate = asyncio.Event()
    running = await agents.start(dataplane, ipamd, wait_ready=False)
    await eventually(lambda: "list_allocations" in ipamd.calls, "the start-up reconcile")
    netns = dataplane.add_netns("/run/netns/c1")

    refused = await running.call(invocation("ADD", "c1", netns))
    assert refused.code == 11
    assert running.agent.readiness() == (False, "reconciling")

    ipamd.list_gate.set()
    await eventually(lambda: running.agent.readiness()[0], "ready")
    assert (await running.call(invocation("ADD", "c1", netns))).exit_code == 0


async def test_reclaimed_range_fences_add_until_the_pods_are_reconciled(
    agents: AgentStarter,
) -> None:
    ipamd, dataplane = FakeIpamd(lease_ttl_seconds=1), FakeDataplane()
    running = await agents.start(dataplane, ipamd)
    old = dataplane.add_netns("/run/netns/old")
    assert (await running.call(invocation("ADD", "old", old))).exit_code == 0

    ipamd.list_gate = asyncio.Event()
    ipamd.reclaim(NODE)  # takes the range and the allocation of "old" with it
    await eventually(lambda: not running.agent.service.serving_adds, "ADD to be fenced")
    new = dataplane.add_netns("/run/netns/new")
    refused = await running.call(invocation("ADD", "new", new))
    assert refused.code == 11
    assert "new" not in {key[0] for key in ipamd.allocations}

    ipamd.list_gate.set()
    await eventually(lambda: running.agent.service.serving_adds, "ADD served again")
    # The pod attached before the reclaim lost its address, so it loses its veth.
    assert host_veth_name("old", "eth0") not in dataplane.veths
    assert (await running.call(invocation("ADD", "new", new))).exit_code == 0
