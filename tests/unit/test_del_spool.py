"""DEL never blocks pod deletion: with ipamd unreachable the veth still goes and the
release is spooled in the shim's format (podnet.shim.spool); the agent replays it once
ipamd answers, then discards the file, and keeps it while ipamd still does not."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from podnet.shim.spool import load_spooled, spool_del, spool_file_name
from podnet.shim.wire import Invocation
from podnet.v1 import cni_pb2

from netagent import agent as agent_module
from netagent.dataplane.naming import host_veth_name
from tests.unit.cni_calls import host_port, invocation
from tests.unit.conftest import NODE, AgentStarter, Node, eventually
from tests.unit.fake_dataplane import FakeDataplane
from tests.unit.fake_ipamd import FakeIpamd

pytestmark = pytest.mark.unit


def as_shim_invocation(message: cni_pb2.CniInvocation) -> Invocation:
    return Invocation(
        message.command,
        message.container_id,
        message.netns,
        message.ifname,
        message.args,
        message.path,
        message.config,
    )


async def test_del_with_ipamd_down_removes_the_veth_and_spools_the_release(node: Node) -> None:
    added = await node.add("c1", runtimeConfig={"portMappings": [host_port(8080)]})
    assert added.exit_code == 0
    node.ipamd.go_down()
    request = invocation("DEL", "c1", "/run/netns/c1", config={"runtimeConfig": {}})

    outcome = await node.handler(request)

    assert (outcome.exit_code, outcome.stdout) == (0, b"")
    assert node.dataplane.veths == {}
    assert node.dataplane.host_ports == set()
    assert set(node.ipamd.allocations) == {("c1", "eth0")}  # not released yet
    (spooled,) = load_spooled(node.spool_dir)
    assert spooled.path == node.spool_dir / spool_file_name("c1", "eth0")
    assert stat.S_IMODE(spooled.path.stat().st_mode) == 0o600
    assert spooled.invocation.replayed is True
    assert spooled.invocation == Invocation(
        "DEL", "c1", "/run/netns/c1", "eth0", request.args, "", request.config, replayed=True
    )


async def test_spooled_file_is_what_the_shim_writes_and_parses_back(node: Node) -> None:
    node.ipamd.go_down()
    request = invocation(
        "DEL", "c1", "", config={"runtimeConfig": {"portMappings": [host_port(80)]}}
    )
    assert (await node.handler(request)).exit_code == 0
    (spooled,) = load_spooled(node.spool_dir)

    # The shim spools a DEL it cannot deliver the same way: same name, same bytes (the
    # agent does not keep CNI_PATH, which DEL does not use).
    shim_dir = node.spool_dir.parent / "shim-spool"
    without_path = as_shim_invocation(request)
    without_path.path = ""
    shim_file = spool_del(shim_dir, without_path)
    assert shim_file.name == spooled.path.name
    assert shim_file.read_bytes() == spooled.path.read_bytes()

    replayed = cni_pb2.CniInvocation.FromString(spooled.message_bytes)
    assert replayed.replayed is True
    replayed.replayed = False
    replayed.path = request.path
    assert replayed == request


async def test_spooled_release_is_replayed_when_ipamd_is_back(
    agents: AgentStarter, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(agent_module, "SPOOL_RETRY_SECONDS", 0.05)
    ipamd, dataplane = FakeIpamd(), FakeDataplane()
    running = await agents.start(dataplane, ipamd)
    netns = dataplane.add_netns("/run/netns/c1")
    assert (await running.call(invocation("ADD", "c1", netns))).exit_code == 0

    ipamd.go_down()
    await eventually(lambda: not running.agent.peers.connected, "the range stream to break")
    assert (await running.call(invocation("DEL", "c1", netns))).exit_code == 0
    assert host_veth_name("c1", "eth0") not in dataplane.veths
    spool_file = running.spool_dir / spool_file_name("c1", "eth0")
    assert spool_file.exists()

    # Periodic retries while ipamd is still down must keep the spooled DEL.
    retries = ipamd.calls.count("release")
    await eventually(lambda: ipamd.calls.count("release") >= retries + 3, "three retries")
    assert spool_file.exists()
    assert set(ipamd.allocations) == {("c1", "eth0")}

    ipamd.come_back()
    await eventually(lambda: not spool_file.exists(), "the spooled DEL to be replayed")
    assert ipamd.released == [("c1", "eth0")]
    assert ipamd.allocations == {}
    assert running.metric("podnet_spooled_dels_replayed_total") == 1


async def test_dels_spooled_while_the_agent_was_down_are_replayed_on_start(
    agents: AgentStarter,
) -> None:
    ipamd, dataplane = FakeIpamd(), FakeDataplane()
    node_range = await ipamd.acquire_range(NODE, "192.0.2.10")
    veth = dataplane.add_veth("c9", ipamd.give(node_range, "c9").address)
    # What the shim writes when it cannot reach the agent.
    spool_file = spool_del(
        agents.workdir / "spool", as_shim_invocation(invocation("DEL", "c9", "/run/netns/c9"))
    )

    running = await agents.start(dataplane, ipamd)

    assert not spool_file.exists()
    assert veth not in dataplane.veths
    assert ipamd.allocations == {}
    assert ipamd.released == [("c9", "eth0")]
    assert running.metric("podnet_spooled_dels_replayed_total") == 1


async def test_an_add_settles_the_spooled_del_of_its_attachment_before_attaching(
    node: Node,
) -> None:
    """podman reuses container ids: the old pod's DEL is spooled (ipamd was down), the
    new pod's ADD comes before the replay. The old DEL must run first, and its replay
    must then leave the new pod alone."""
    assert (await node.add("c1")).exit_code == 0
    node.ipamd.go_down()
    assert (await node.delete("c1", "/run/netns/c1")).exit_code == 0
    spool_file = node.spool_dir / spool_file_name("c1", "eth0")
    assert spool_file.exists()
    (stale_replay,) = load_spooled(node.spool_dir)
    node.ipamd.come_back()
    node.ipamd.calls.clear()

    readded = await node.add("c1", node.dataplane.add_netns("/run/netns/c1-restarted"))

    assert readded.exit_code == 0, readded.document
    assert not spool_file.exists()
    assert node.ipamd.released == [("c1", "eth0")]
    # Released first, then allocated afresh: not the old pod's allocation taken over.
    assert [c for c in node.ipamd.calls if c in ("release", "allocate")] == [
        "release",
        "allocate",
    ]
    new_address = node.ipamd.allocations[("c1", "eth0")].address
    (veth,) = node.dataplane.veths.values()
    assert veth.netns == Path("/run/netns/c1-restarted")

    # A replay that had loaded the file before the ADD settled it changes nothing.
    replay = cni_pb2.CniInvocation.FromString(stale_replay.message_bytes)
    assert (await node.handler(replay)).exit_code == 0
    assert node.ipamd.released == [("c1", "eth0")]
    assert node.ipamd.allocations[("c1", "eth0")].address == new_address
    assert list(node.dataplane.veths.values()) == [veth]


async def test_an_add_whose_spooled_del_cannot_be_settled_is_retried_later(node: Node) -> None:
    assert (await node.add("c1")).exit_code == 0
    node.ipamd.go_down()
    assert (await node.delete("c1", "/run/netns/c1")).exit_code == 0
    spool_file = node.spool_dir / spool_file_name("c1", "eth0")

    readded = await node.add("c1", node.dataplane.add_netns("/run/netns/c1-restarted"))

    assert readded.code == 11
    assert "spooled earlier" in readded.document["details"]
    assert spool_file.exists()
    assert node.dataplane.veths == {}
    assert set(node.ipamd.allocations) == {("c1", "eth0")}  # the old one, still to release
