"""detach(): removes the pair, and succeeds whenever there is nothing left."""

from __future__ import annotations

import dataclasses
import subprocess

from netagent import dataplane
from netagent.dataplane import host_veth_name
from tests.conftest import NetnsFactory
from tests.dataplane import kernel_view as kv
from tests.dataplane.conftest import Node, pod_spec


def test_detach_removes_pair_and_route_and_is_idempotent(node: Node, netns: NetnsFactory) -> None:
    pod = netns("pod")
    spec = pod_spec(pod, 2)
    node.loop.run(dataplane.attach(spec))

    first = node.loop.run(dataplane.detach(spec.host_ifname, spec.netns, "eth0"))
    second = node.loop.run(dataplane.detach(spec.host_ifname, spec.netns, "eth0"))

    assert (first, second) == (True, False)
    assert set(kv.links(node.name)) == {"lo"}
    assert set(kv.links(pod)) == {"lo"}
    assert kv.ipv4_routes(node.name) == []


def test_detach_after_the_netns_is_gone(node: Node, netns: NetnsFactory) -> None:
    pod = netns("pod")
    spec = pod_spec(pod, 2)
    node.loop.run(dataplane.attach(spec))
    # Keep the namespace alive through a process while its name is removed, so
    # the pair outlives the path (as when a runtime deletes the netns first).
    holder = subprocess.Popen(["ip", "netns", "exec", pod, "sleep", "30"])
    try:
        subprocess.run(["ip", "netns", "delete", pod], check=True)
        assert spec.host_ifname in kv.links(node.name)

        deleted = node.loop.run(dataplane.detach(spec.host_ifname, spec.netns, "eth0"))

        assert deleted
        assert set(kv.links(node.name)) == {"lo"}
        assert not node.loop.run(dataplane.detach(spec.host_ifname, spec.netns, "eth0"))
    finally:
        holder.kill()
        holder.wait()


def test_detach_with_empty_netns_path(node: Node, netns: NetnsFactory) -> None:
    pod = netns("pod")
    spec = pod_spec(pod, 2)
    node.loop.run(dataplane.attach(spec))

    assert node.loop.run(dataplane.detach(spec.host_ifname, "", "eth0"))
    assert not node.loop.run(dataplane.detach(spec.host_ifname, "", "eth0"))
    assert not node.loop.run(dataplane.detach(spec.host_ifname, None, "eth0"))
    assert set(kv.links(node.name)) == {"lo"}
    assert set(kv.links(pod)) == {"lo"}


def test_detach_of_something_never_attached(node: Node) -> None:
    assert not node.loop.run(
        dataplane.detach(host_veth_name("never-added", "eth0"), "/run/netns/nope", "eth0")
    )
    assert not node.loop.run(
        dataplane.detach(host_veth_name("never-added", "eth0"), "/etc/hostname", "eth0")
    )


def test_detach_cleans_the_pod_end_when_the_host_veth_is_missing(
    node: Node, netns: NetnsFactory
) -> None:
    """E.g. a pod interface moved or renamed by hand: the pod side is still ours."""
    pod = netns("pod")
    kv.ip(pod, "link", "add", "eth0", "type", "veth", "peer", "name", "stray0")

    assert node.loop.run(
        dataplane.detach(host_veth_name("ctr-x", "eth0"), f"/run/netns/{pod}", "eth0")
    )
    assert set(kv.links(pod)) == {"lo"}


def test_a_spec_without_container_id_is_still_listed_and_detached(
    node: Node, netns: NetnsFactory
) -> None:
    pod = netns("pod")
    spec = dataclasses.replace(pod_spec(pod, 2), container_id="")
    node.loop.run(dataplane.attach(spec))

    (listed,) = node.loop.run(dataplane.list_host_veths())
    assert (listed.name, listed.container_id, listed.ifname) == (spec.host_ifname, None, None)
    assert listed.pod_ips == (spec.pod_ip,)

    assert node.loop.run(dataplane.detach(spec.host_ifname, None, ""))
    assert node.loop.run(dataplane.list_host_veths()) == []
