"""CNI_NETNS resolved inside a caller's root: '..' and absolute symlinks stay in it."""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from netagent import dataplane
from netagent.dataplane import CallerRoot, NetnsNotFound, NetnsPath, NotANetns
from netagent.dataplane.namespaces import open_pod_netns
from tests.conftest import NetnsFactory
from tests.dataplane import kernel_view as kv
from tests.dataplane.conftest import Node, pod_spec
from tools.lab.netns import NETNS_DIR


@dataclass
class CallerTree:
    """A directory standing for a caller's root: its run/netns/<outside> is a bind
    mount of the namespace inside, and var/run is the absolute symlink "/run"."""

    root: CallerRoot
    outside: str
    """A namespace whose name exists in the agent's /run/netns too."""
    inside: str
    """The namespace the caller's /run/netns/<outside> really is."""


@pytest.fixture
def caller_tree(netns: NetnsFactory) -> Iterator[CallerTree]:
    outside, inside = netns("outside"), netns("inside")
    top = Path(tempfile.mkdtemp(prefix="pncaller-"))
    mounted = top / "run" / "netns" / outside
    mounted.parent.mkdir(parents=True)
    mounted.touch()
    (top / "var").mkdir()
    (top / "var" / "run").symlink_to("/run")
    subprocess.run(["mount", "--bind", str(NETNS_DIR / inside), str(mounted)], check=True)
    fd = os.open(top, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        yield CallerTree(CallerRoot(fd, os.getpid()), outside, inside)
    finally:
        os.close(fd)
        subprocess.run(["umount", "-l", str(mounted)], check=False)
        shutil.rmtree(top, ignore_errors=True)


def _inode(path: str | Path) -> tuple[int, int]:
    status = os.stat(path)
    return status.st_dev, status.st_ino


@pytest.mark.parametrize(
    "path",
    [
        "/run/netns/{outside}",
        "/var/run/netns/{outside}",  # through the absolute symlink, inside the root
        "/../../../run/netns/{outside}",  # '..' stops at the root
        "run/netns/{outside}",
    ],
)
def test_paths_resolve_inside_the_callers_root(caller_tree: CallerTree, path: str) -> None:
    netns = NetnsPath(path.format(outside=caller_tree.outside), caller_tree.root)
    with open_pod_netns(netns) as fd:
        opened = os.fstat(fd)
    assert (opened.st_dev, opened.st_ino) == _inode(NETNS_DIR / caller_tree.inside)
    assert (opened.st_dev, opened.st_ino) != _inode(NETNS_DIR / caller_tree.outside)


def test_the_same_path_without_a_caller_root_is_the_agents_view(caller_tree: CallerTree) -> None:
    with open_pod_netns(NetnsPath(f"/var/run/netns/{caller_tree.outside}")) as fd:
        opened = os.fstat(fd)
    assert (opened.st_dev, opened.st_ino) == _inode(NETNS_DIR / caller_tree.outside)


def test_a_path_missing_in_the_callers_root_names_the_caller(caller_tree: CallerTree) -> None:
    # Exists in the agent's view, not in the caller's.
    netns = NetnsPath(f"/run/netns/{caller_tree.inside}", caller_tree.root)
    with (
        pytest.raises(NetnsNotFound, match=r"calling process \(pid \d+\)"),
        open_pod_netns(netns),
    ):
        pass


def test_magic_links_are_followed_only_as_the_last_component(netns: NetnsFactory) -> None:
    pod = netns("pod")
    holder = subprocess.Popen(["ip", "netns", "exec", pod, "sleep", "60"])
    root_fd = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        ns_link = f"/proc/{holder.pid}/ns/net"
        for _ in range(100):  # until ip has entered the namespace and exec'd sleep
            if _inode(ns_link) == _inode(NETNS_DIR / pod):
                break
            subprocess.run(["sleep", "0.05"], check=True)
        with open_pod_netns(NetnsPath(ns_link, CallerRoot(root_fd, holder.pid))) as fd:
            opened = os.fstat(fd)
        assert (opened.st_dev, opened.st_ino) == _inode(NETNS_DIR / pod)
        through_root = NetnsPath(f"/proc/self/root/run/netns/{pod}", CallerRoot(root_fd, 1))
        with pytest.raises(NotANetns, match="magic link"), open_pod_netns(through_root):
            pass
    finally:
        os.close(root_fd)
        holder.kill()
        holder.wait()


def test_attach_and_detach_in_the_namespace_the_caller_sees(
    node: Node, caller_tree: CallerTree
) -> None:
    netns = NetnsPath(f"/var/run/netns/{caller_tree.outside}", caller_tree.root)
    spec = dataclasses.replace(pod_spec(caller_tree.outside, 2), netns=netns)
    attachment = node.loop.run(dataplane.attach(spec))
    assert attachment.sandbox == netns.path
    assert kv.ipv4_addresses(caller_tree.inside, "eth0") == ["10.244.1.2/24"]
    assert "eth0" not in kv.links(caller_tree.outside)
    node.loop.run(dataplane.verify(spec))
    # No such host veth: detach looks for the pod end in the caller's view.
    assert node.loop.run(dataplane.detach("veth-absent0", netns, "eth0"))
    assert spec.host_ifname not in kv.links(node.name)
    assert "eth0" not in kv.links(caller_tree.inside)
