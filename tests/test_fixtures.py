from __future__ import annotations

from pathlib import Path

from tests.conftest import NetnsFactory
from tools.lab.etcd_server import EtcdEndpoint
from tools.lab.netns import list_netns, run_ip


def test_etcd_fixture_serves_clients(etcd: EtcdEndpoint) -> None:
    from tools.lab.processes import tcp_open

    assert tcp_open(etcd.host, etcd.client_port)


def test_netns_factory_makes_isolated_namespaces(netns: NetnsFactory) -> None:
    name = netns("node")
    assert name in list_netns(netns.prefix)
    assert Path(f"/run/netns/{name}").exists()
    assert "lo" in run_ip("-o", "link", "show", "up", netns=name)
