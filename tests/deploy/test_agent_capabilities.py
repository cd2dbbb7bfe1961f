"""The Linux capabilities the agent's manifests grant are enough for the real agent to
wire and unwire a pod, and SYS_ADMIN among them is really needed: the agent runs as
root with its bounding set cut down, as a container runtime or systemd does."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import NetnsFactory
from tests.deploy.systemd_units import unit_capabilities
from tests.deploy.test_kubernetes import AGENT_CAPABILITIES
from tests.e2e.single_node import SingleNode, ns_json


def _setpriv(capabilities: set[str]) -> list[str]:
    bounding = ",".join(["-all", *(f"+{c.lower()}" for c in sorted(capabilities))])
    return ["setpriv", "--nnp", "--inh-caps=-all", f"--bounding-set={bounding}"]


@pytest.fixture
def confined_node(netns: NetnsFactory, tmp_path: Path, cni_bin: Path) -> Iterator[SingleNode]:
    single = SingleNode(netns=netns("node"), state=tmp_path / "node", cni_bin=cni_bin)
    single.state.mkdir()
    try:
        single.start_etcd()
        single.start_ipamd()
        yield single
    finally:
        single.stop_all()
        if sys.exc_info()[0] is not None:
            print((single.state / "agent.log").read_text(errors="replace")[-4000:])


def test_systemd_unit_grants_the_same_capabilities() -> None:
    assert unit_capabilities("podnet-agent.service") == AGENT_CAPABILITIES
    assert unit_capabilities("podnet-ipamd.service") == set()


def test_agent_wires_pods_with_only_the_manifest_capabilities(
    confined_node: SingleNode, netns: NetnsFactory
) -> None:
    confined_node.agent_wrapper = _setpriv(AGENT_CAPABILITIES)
    confined_node.start_agent()
    status = (Path("/proc") / str(_agent_pid(confined_node)) / "status").read_text()
    assert _bounding_set(status) == AGENT_CAPABILITIES

    pod = netns("pod")
    add = confined_node.cni("ADD", "ctr-1", f"/run/netns/{pod}")
    assert add.returncode == 0, add.stdout
    assert [a["ifname"] for a in ns_json(pod, "addr", "show") if a["ifname"] == "eth0"]
    delete = confined_node.cni("DEL", "ctr-1", f"/run/netns/{pod}")
    assert delete.returncode == 0, delete.stdout
    assert [link["ifname"] for link in ns_json(pod, "link", "show")] == ["lo"]


def test_without_sys_admin_the_agent_cannot_enter_pod_namespaces(
    confined_node: SingleNode, netns: NetnsFactory
) -> None:
    confined_node.agent_wrapper = _setpriv(AGENT_CAPABILITIES - {"SYS_ADMIN"})
    confined_node.start_agent()
    add = confined_node.cni("ADD", "ctr-1", f"/run/netns/{netns('pod')}")
    assert add.returncode != 0


def _agent_pid(node: SingleNode) -> int:
    assert node.agent is not None
    # spawn runs `ip netns exec NS setpriv ... podnet-agent`, each exec'ing the next.
    return node.agent.pid


_CAP_NAMES = {12: "NET_ADMIN", 13: "NET_RAW", 19: "SYS_PTRACE", 21: "SYS_ADMIN"}


def _bounding_set(status: str) -> set[str]:
    (line,) = (line for line in status.splitlines() if line.startswith("CapBnd:"))
    mask = int(line.split()[1], 16)
    unknown = mask & ~sum(1 << bit for bit in _CAP_NAMES)
    assert unknown == 0, f"unexpected capabilities {unknown:#x}"
    return {name for bit, name in _CAP_NAMES.items() if mask & (1 << bit)}
