"""Who may call the agent socket, and whose view of the filesystem CNI_NETNS is in."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from netagent.server.internal_sockets import internal_dir
from tests.conftest import NetnsFactory
from tests.e2e.ipamd_probe import allocations
from tests.e2e.single_node import CniCall, SingleNode, ns_json
from tests.e2e.test_single_node import host_veths

NOBODY = 65534
AS_NOBODY = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


class ReachableNode:
    """A node whose socket a non-root process can reach: the directory and socket modes
    are widened after start, as an operator would have to for a non-root runtime.
    The shim is copied beside it, out of pytest's root-only temp directory."""

    def __init__(self, node: SingleNode, shim: Path) -> None:
        self.node = node
        self.shim = shim

    def cni_as_nobody(self, command: str, container_id: str, netns: str) -> CniCall:
        return self.node.cni(command, container_id, netns, wrapper=AS_NOBODY, shim=self.shim)


@pytest.fixture
def reachable_node(
    request: pytest.FixtureRequest, netns: NetnsFactory, tmp_path: Path, cni_bin: Path
) -> Iterator[ReachableNode]:
    public = Path(tempfile.mkdtemp(prefix="pnsock-"))
    public.chmod(0o755)
    node = SingleNode(
        netns=netns("node"),
        state=tmp_path / "node",
        cni_bin=cni_bin,
        socket_path=public / "agent" / "agent.sock",
        extra_agent_args=list(getattr(request, "param", [])),
    )
    node.state.mkdir()
    try:
        node.start_etcd()
        node.start_ipamd()
        node.start_agent()
        node.socket.parent.chmod(0o711)
        node.socket.chmod(0o666)
        shim = public / "podnet"
        shutil.copy(cni_bin / "podnet", shim)
        shim.chmod(0o755)
        yield ReachableNode(node, shim)
    finally:
        node.stop_all()
        if sys.exc_info()[0] is not None:
            print((node.state / "agent.log").read_text(errors="replace")[-4000:])
        shutil.rmtree(public, ignore_errors=True)


def refusals_logged(node: SingleNode) -> list[dict[str, object]]:
    lines = (node.state / "agent.log").read_text(errors="replace").splitlines()
    events = [json.loads(line) for line in lines if line.startswith("{")]
    return [event for event in events if event.get("event") == "cni_caller_refused"]


def refused_total(node: SingleNode) -> float:
    status, body = node.http_get("/metrics")
    assert status == 200
    for line in body.splitlines():
        if line.startswith("podnet_cni_callers_refused_total "):
            return float(line.split()[1])
    raise AssertionError("podnet_cni_callers_refused_total missing from /metrics")


def test_a_caller_with_another_uid_is_refused_and_changes_nothing(
    reachable_node: ReachableNode, netns: NetnsFactory
) -> None:
    node = reachable_node.node
    pod = netns("pod")
    refused = reachable_node.cni_as_nobody("ADD", "ctr-nobody", f"/run/netns/{pod}")
    assert refused.returncode == 1
    error = refused.json
    assert error["code"] == 11, error
    assert "grpc-status 7" in error["details"]
    assert f"uid {NOBODY} (pid {refused.pid})" in error["details"]
    assert "--cni-allowed-uid" in error["details"]
    assert host_veths(node) == []
    assert allocations(node) == {}
    assert [link["ifname"] for link in ns_json(pod, "link", "show")] == ["lo"]
    [logged] = refusals_logged(node)
    assert logged["peer_uid"] == NOBODY and logged["peer_pid"] == refused.pid
    assert logged["level"] == "warning"
    assert refused_total(node) == 1

    # Nor can it tear down a root caller's pod (its DEL cannot even be spooled).
    assert node.cni("ADD", "ctr-root", f"/run/netns/{pod}").returncode == 0
    delete = reachable_node.cni_as_nobody("DEL", "ctr-root", f"/run/netns/{pod}")
    assert delete.returncode == 1, delete.stdout
    assert len(host_veths(node)) == 1
    assert set(allocations(node)) == {("ctr-root", "eth0")}
    assert refused_total(node) == 2
    assert list(node.spool_dir.glob("*.del")) == []

    # The servers behind the gate stay out of reach of anyone but root.
    internal = internal_dir(node.socket)
    assert stat.S_IMODE(internal.stat().st_mode) == 0o700 and internal.stat().st_uid == 0
    assert node.cni("DEL", "ctr-root", f"/run/netns/{pod}").returncode == 0


@pytest.mark.parametrize("reachable_node", [["--cni-allowed-uid", str(NOBODY)]], indirect=True)
def test_the_configured_uid_is_served(reachable_node: ReachableNode, netns: NetnsFactory) -> None:
    node = reachable_node.node
    pod = netns("pod")
    add = reachable_node.cni_as_nobody("ADD", "ctr-nobody", f"/run/netns/{pod}")
    assert add.returncode == 0, add.stdout + add.stderr
    address = add.json["ips"][0]["address"]
    assert [a["local"] for a in ns_json(pod, "-4", "addr", "show", "eth0")[0]["addr_info"]] == [
        address.split("/")[0]
    ]
    delete = reachable_node.cni_as_nobody("DEL", "ctr-nobody", f"/run/netns/{pod}")
    assert delete.returncode == 0, delete.stdout
    assert allocations(node) == {}
    assert host_veths(node) == []
    assert refusals_logged(node) == []
    assert refused_total(node) == 0


def in_private_mounts(hidden: Path, pod: str) -> list[str]:
    """Runs the shim in a mount namespace of its own where hidden/netns is pod's netns;
    in every other mount namespace hidden is an empty directory."""
    script = (
        f"mount -t tmpfs podnet-hidden {hidden} && touch {hidden}/netns"
        f' && mount --bind /run/netns/{pod} {hidden}/netns && exec "$0"'
    )
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", script]


def test_a_netns_path_only_the_caller_can_see(node: SingleNode, netns: NetnsFactory) -> None:
    pod = netns("pod")
    hidden = Path(tempfile.mkdtemp(prefix="pnhidden-"))
    path = str(hidden / "netns")
    try:
        add = node.cni("ADD", "ctr-hidden", path, wrapper=in_private_mounts(hidden, pod))
        assert add.returncode == 0, add.stdout + add.stderr
        assert not os.path.exists(path)  # not in the agent's (nor this test's) view
        address = add.json["ips"][0]["address"].split("/")[0]
        assert ns_json(pod, "-4", "addr", "show", "eth0")[0]["addr_info"][0]["local"] == address
        assert add.json["interfaces"][1]["sandbox"] == path

        # From a caller that does not see it, the same path is not there.
        elsewhere = node.cni("ADD", "ctr-elsewhere", path)
        assert elsewhere.json["code"] == 3, elsewhere.stdout
        assert f"calling process (pid {elsewhere.pid})" in elsewhere.json["details"]
        assert set(allocations(node)) == {("ctr-hidden", "eth0")}

        config = {**node.plugin_config(), "prevResult": add.json}
        check = node.cni(
            "CHECK", "ctr-hidden", path, config=config, wrapper=in_private_mounts(hidden, pod)
        )
        assert check.returncode == 0, check.stdout
        delete = node.cni("DEL", "ctr-hidden", path, wrapper=in_private_mounts(hidden, pod))
        assert delete.returncode == 0, delete.stdout
        assert allocations(node) == {}
        assert [link["ifname"] for link in ns_json(pod, "link", "show")] == ["lo"]
    finally:
        shutil.rmtree(hidden, ignore_errors=True)


def test_buildah_style_proc_fd_paths_are_resolved(node: SingleNode, netns: NetnsFactory) -> None:
    pod = netns("pod")
    fd = os.open(f"/run/netns/{pod}", os.O_RDONLY | os.O_CLOEXEC)
    holder = subprocess.Popen(["sleep", "60"], pass_fds=[fd])
    try:
        path = f"/proc/{holder.pid}/fd/{fd}"
        add = node.cni("ADD", "ctr-fd", path)
        assert add.returncode == 0, add.stdout
        assert [link["ifname"] for link in ns_json(pod, "link", "show")] == ["lo", "eth0"]
        assert node.cni("DEL", "ctr-fd", path).returncode == 0
        assert allocations(node) == {}
        assert [link["ifname"] for link in ns_json(pod, "link", "show")] == ["lo"]
    finally:
        holder.kill()
        holder.wait()
        os.close(fd)
