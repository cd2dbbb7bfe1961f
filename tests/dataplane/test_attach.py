"""attach(): the ptp layout in both namespaces, and all-or-nothing failures."""

from __future__ import annotations

import dataclasses
import os
import subprocess
from pathlib import Path

import pytest

from netagent import dataplane
from netagent.dataplane import (
    AttachmentMismatch,
    DataplaneConfig,
    DataplaneTimeout,
    InterfaceExists,
    NetlinkOperationFailed,
    NetnsNotFound,
    NotANetns,
    host_veth_name,
)
from tests.conftest import NetnsFactory
from tests.dataplane import kernel_view as kv
from tests.dataplane.conftest import Node, pod_spec
from tools.lab.processes import wait_until


def _route(dst: str, **fields: str) -> dict[str, object]:
    return {"dst": dst, "flags": [], **fields}


def test_attach_builds_the_ptp_layout(node: Node, netns: NetnsFactory) -> None:
    pod = netns("pod")
    spec = pod_spec(pod, 2)

    attachment = node.loop.run(dataplane.attach(spec))

    pod_links = kv.links(pod)
    assert set(pod_links) == {"lo", "eth0"}
    eth0 = pod_links["eth0"]
    assert eth0["linkinfo"]["info_kind"] == "veth"
    assert eth0["address"] == attachment.pod_mac
    assert eth0["mtu"] == 1450
    assert "UP" in eth0["flags"]
    assert kv.ipv4_addresses(pod, "eth0") == ["10.244.1.2/24"]
    pod_routes = sorted(kv.ipv4_routes(pod), key=lambda r: str(r["dst"]))
    assert pod_routes == [
        _route("10.244.1.0/24", gateway="10.244.1.1", dev="eth0", prefsrc="10.244.1.2"),
        _route("10.244.1.1", dev="eth0", scope="link", prefsrc="10.244.1.2"),
        _route("default", gateway="10.244.1.1", dev="eth0"),
    ]

    node_links = kv.links(node.name)
    assert set(node_links) == {"lo", spec.host_ifname}
    host = node_links[spec.host_ifname]
    assert spec.host_ifname.startswith("veth") and len(spec.host_ifname) == 12
    assert host["address"] == attachment.host_mac
    assert host["mtu"] == 1450
    assert "UP" in host["flags"]
    assert host["ifalias"] == f"podnet/{spec.container_id}/eth0"
    assert kv.ipv4_addresses(node.name, spec.host_ifname) == ["10.244.1.1/32"]
    assert kv.ipv4_routes(node.name) == [_route("10.244.1.2", dev=spec.host_ifname, scope="host")]

    assert attachment.sandbox == str(spec.netns)
    assert attachment.mtu == 1450
    assert attachment.pod_ifname == "eth0"
    assert attachment.host_ifname == spec.host_ifname


def test_pod_reaches_the_gateway_on_the_node(node: Node, netns: NetnsFactory) -> None:
    pod = netns("pod")
    node.loop.run(dataplane.attach(pod_spec(pod, 7)))
    assert kv.ping(pod, "10.244.1.1")


def test_pods_on_one_node_reach_each_other(node: Node, netns: NetnsFactory) -> None:
    first, second = netns("pod"), netns("pod")
    node.loop.run(dataplane.attach(pod_spec(first, 2)))
    node.loop.run(dataplane.attach(pod_spec(second, 3)))
    root_forwarding = Path("/proc/sys/net/ipv4/ip_forward").read_text()
    node.loop.run(dataplane.enable_ipv4_forwarding())
    assert Path("/proc/sys/net/ipv4/ip_forward").read_text() == root_forwarding
    assert kv.sysctl(node.name, "net.ipv4.ip_forward") == "1"
    assert kv.ping(first, "10.244.1.3")
    assert kv.ping(second, "10.244.1.2")


def test_existing_ifname_fails_and_changes_nothing(node: Node, netns: NetnsFactory) -> None:
    pod = netns("pod")
    kv.ip(pod, "link", "add", "eth0", "type", "bridge")
    spec = pod_spec(pod, 2)

    with pytest.raises(InterfaceExists, match="eth0"):
        node.loop.run(dataplane.attach(spec))

    assert set(kv.links(node.name)) == {"lo"}
    assert kv.links(pod)["eth0"]["linkinfo"]["info_kind"] == "bridge"
    assert kv.ipv4_addresses(pod, "eth0") == []


def test_existing_host_veth_fails_and_changes_nothing(node: Node, netns: NetnsFactory) -> None:
    pod = netns("pod")
    spec = pod_spec(pod, 2)
    kv.ip(node.name, "link", "add", spec.host_ifname, "type", "bridge")

    with pytest.raises(InterfaceExists, match=spec.host_ifname):
        node.loop.run(dataplane.attach(spec))

    assert set(kv.links(pod)) == {"lo"}
    assert kv.links(node.name)[spec.host_ifname]["linkinfo"]["info_kind"] == "bridge"


def test_missing_netns_path_is_a_clean_error(node: Node, tmp_path: Path) -> None:
    spec = dataclasses.replace(pod_spec("unused", 2), netns=tmp_path / "gone")
    with pytest.raises(NetnsNotFound):
        node.loop.run(dataplane.attach(spec))
    assert set(kv.links(node.name)) == {"lo"}


@pytest.mark.parametrize("kind", ["regular file", "directory", "mount namespace"])
def test_path_that_is_no_netns_is_a_clean_error(node: Node, tmp_path: Path, kind: str) -> None:
    if kind == "regular file":
        path = tmp_path / "netns"
        path.write_text("")
    elif kind == "directory":
        path = tmp_path
    else:
        path = Path(f"/proc/{os.getpid()}/ns/mnt")
    spec = dataclasses.replace(pod_spec("unused", 2), netns=path)

    with pytest.raises(NotANetns):
        node.loop.run(dataplane.attach(spec))

    assert set(kv.links(node.name)) == {"lo"}


def test_proc_pid_netns_paths_work(node: Node, netns: NetnsFactory) -> None:
    """Runtimes like buildah pass /proc/<pid>/ns/net, not a /run/netns path."""
    pod = netns("pod")
    holder = subprocess.Popen(["ip", "netns", "exec", pod, "sleep", "30"])
    try:
        proc_path = f"/proc/{holder.pid}/ns/net"
        # Until `ip netns exec` has switched, the path names the root netns.
        wait_until(
            lambda: os.stat(proc_path).st_ino == os.stat(f"/run/netns/{pod}").st_ino,
            timeout=5,
            what="the holder process to enter the pod netns",
        )
        spec = dataclasses.replace(pod_spec(pod, 2), netns=Path(proc_path))
        node.loop.run(dataplane.attach(spec))
        assert kv.ipv4_addresses(pod, "eth0") == ["10.244.1.2/24"]
    finally:
        holder.kill()
        holder.wait()


def test_failure_midway_deletes_the_veth(node: Node, netns: NetnsFactory) -> None:
    """A route already in the pod netns makes ADD fail after the veth exists."""
    pod = netns("pod")
    kv.ip(pod, "route", "add", "blackhole", "10.244.1.0/24")
    spec = pod_spec(pod, 2)

    with pytest.raises(NetlinkOperationFailed) as failure:
        node.loop.run(dataplane.attach(spec))

    assert failure.value.errno == 17  # EEXIST
    assert set(kv.links(node.name)) == {"lo"}
    assert set(kv.links(pod)) == {"lo"}
    assert kv.ipv4_routes(node.name) == []
    assert [(r["type"], r["dst"]) for r in kv.ipv4_routes(pod)] == [("blackhole", "10.244.1.0/24")]


def test_check_passes_on_a_fresh_attachment_and_names_each_difference(
    node: Node, netns: NetnsFactory
) -> None:
    pod = netns("pod")
    spec = pod_spec(pod, 2)
    attachment = node.loop.run(dataplane.attach(spec))
    node.loop.run(dataplane.verify(spec, attachment.pod_mac))

    kv.ip(pod, "route", "del", "default")
    kv.ip(node.name, "link", "set", spec.host_ifname, "mtu", "1400")
    with pytest.raises(AttachmentMismatch) as mismatch:
        node.loop.run(dataplane.verify(spec, "02:00:00:00:00:01"))

    problems = mismatch.value.problems
    assert len(problems) == 3
    assert any("default route via 10.244.1.1 missing" in p for p in problems)
    assert any("host veth mtu is 1400, expected 1450" in p for p in problems)
    assert any("mac is" in p for p in problems)


def test_check_reports_a_missing_pod_interface(node: Node, netns: NetnsFactory) -> None:
    pod = netns("pod")
    spec = pod_spec(pod, 2)
    node.loop.run(dataplane.attach(spec))
    kv.ip(pod, "link", "del", "eth0")  # takes the host veth with it

    observed = node.loop.run(dataplane.inspect_attachment(spec.host_ifname, spec.netns, "eth0"))
    assert observed.pod_interface is None and observed.host_veth is None
    with pytest.raises(AttachmentMismatch, match="eth0 missing"):
        node.loop.run(dataplane.verify(spec))


def test_list_host_veths_finds_only_podnet_veths(node: Node, netns: NetnsFactory) -> None:
    first, second = netns("pod"), netns("pod")
    node.loop.run(dataplane.attach(pod_spec(first, 2)))
    node.loop.run(dataplane.attach(pod_spec(second, 3)))
    # A foreign veth with a podnet-looking name, without podnet's alias.
    kv.ip(node.name, "link", "add", "veth0badc0de", "type", "veth", "peer", "name", "other0")

    found = node.loop.run(dataplane.list_host_veths())

    assert {(veth.container_id, veth.ifname, veth.pod_ips) for veth in found} == {
        (f"ctr-{first}", "eth0", (pod_spec(first, 2).pod_ip,)),
        (f"ctr-{second}", "eth0", (pod_spec(second, 3).pod_ip,)),
    }
    assert {veth.name for veth in found} == {
        pod_spec(first, 2).host_ifname,
        pod_spec(second, 3).host_ifname,
    }


def test_attach_interrupted_by_its_timeout_leaves_nothing(node: Node, netns: NetnsFactory) -> None:
    pod = netns("pod")
    spec = pod_spec(pod, 2)
    outcomes = set()
    for timeout in (0.0002, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.01, 1.0):
        config = DataplaneConfig(netlink_timeout=timeout)
        try:
            node.loop.run(dataplane.attach(spec, config))
        except DataplaneTimeout:
            outcomes.add("timed out")
            assert set(kv.links(node.name)) == {"lo"}, timeout
            assert set(kv.links(pod)) == {"lo"}, timeout
        else:
            outcomes.add("attached")
            assert node.loop.run(dataplane.detach(spec.host_ifname, spec.netns, "eth0"))
    assert outcomes == {"timed out", "attached"}


def test_the_node_namespace_is_never_taken_for_a_pod(node: Node) -> None:
    spec = dataclasses.replace(pod_spec("unused", 2), netns=Path(f"/run/netns/{node.name}"))
    with pytest.raises(NotANetns, match="node's own"):
        node.loop.run(dataplane.attach(spec))
    kv.ip(node.name, "link", "add", "eth0", "type", "bridge")

    assert not node.loop.run(dataplane.detach(host_veth_name("ctr", "eth0"), spec.netns, "eth0"))
    assert set(kv.links(node.name)) == {"lo", "eth0"}
