"""The dataplane never forks for netlink (a forked helper would inherit the
agent's signal handlers and the grpc.aio server's state)."""

from __future__ import annotations

import os

from netagent import dataplane
from tests.conftest import NetnsFactory
from tests.dataplane.conftest import Node, pod_spec
from tests.dataplane.netns_thread import call_in_netns

_forks: list[int] = []
_counting = [False]


def _count_fork() -> None:
    if _counting[0]:
        _forks.append(os.getpid())


os.register_at_fork(before=_count_fork)


def test_pod_and_route_operations_do_not_fork(node: Node, netns: NetnsFactory) -> None:
    pod = netns("pod")
    spec = pod_spec(pod, 2)
    # Sanity: the hook sees os.fork (which pyroute2's netns helpers use).
    _counting[0] = True
    try:
        child = os.fork()
        if child == 0:
            os._exit(0)
        os.waitpid(child, 0)
        assert len(_forks) == 1
        _forks.clear()

        node.loop.run(dataplane.attach(spec))
        node.loop.run(dataplane.verify(spec))
        node.loop.run(dataplane.list_host_veths())
        node.loop.run(dataplane.sync_peer_routes({}))
        call_in_netns(node.name, dataplane.default_route_mtu)
        node.loop.run(dataplane.detach(spec.host_ifname, spec.netns, "eth0"))
    finally:
        _counting[0] = False
    assert _forks == []
