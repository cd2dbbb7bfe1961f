"""cniexec against the real reference plugins (ptp, host-local, portmap) in namespaces."""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import NetnsFactory
from tools.cniexec import (
    CniRuntime,
    ConfigError,
    PluginError,
    PluginNotFoundError,
    RuntimeConf,
    RuntimeSettings,
    UnsupportedCommandError,
    kubernetes_pod_args,
    parse_conflist,
)
from tools.lab.netns import in_netns, run_ip

REFERENCE_BIN_DIR = "/usr/lib/cni"


def kindnet_conflist(cni_version: str, data_dir: Path) -> bytes:
    """The walkthrough's 10-kindnet.conflist, with host-local state in data_dir."""
    return json.dumps(
        {
            "cniVersion": cni_version,
            "name": "kindnet",
            "plugins": [
                {
                    "type": "ptp",
                    "ipMasq": False,
                    "ipam": {
                        "type": "host-local",
                        "dataDir": str(data_dir),
                        "routes": [{"dst": "0.0.0.0/0"}],
                        "ranges": [[{"subnet": "10.244.1.0/24"}]],
                    },
                    "mtu": 1500,
                },
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ],
        }
    ).encode()


def nat_rules(netns: str) -> str:
    done = subprocess.run(
        in_netns(netns, ["iptables", "-t", "nat", "-S"]), capture_output=True, text=True
    )
    return done.stdout


def pod_conf(pod_netns: str, **capability_args: Any) -> RuntimeConf:
    return RuntimeConf(
        container_id=uuid.uuid4().hex,
        netns=f"/run/netns/{pod_netns}",
        ifname="eth0",
        args=kubernetes_pod_args("default", "webserver-1", str(uuid.uuid4())),
        capability_args=capability_args,
    )


@pytest.fixture
def node_runtime(netns: NetnsFactory, tmp_path: Path) -> tuple[str, CniRuntime]:
    node = netns("node")
    runtime = CniRuntime(
        RuntimeSettings(
            bin_dirs=(REFERENCE_BIN_DIR,),
            cache_dir=tmp_path / "cni-cache",
            exec_netns=node,
            plugin_timeout=20.0,
        )
    )
    return node, runtime


def test_add_chains_prev_result_into_portmap_and_del_undoes_it(
    netns: NetnsFactory, node_runtime: tuple[str, CniRuntime], tmp_path: Path
) -> None:
    node, runtime = node_runtime
    pod = netns("pod")
    conflist = parse_conflist(kindnet_conflist("0.3.1", tmp_path / "ipam"))
    conf = pod_conf(pod, portMappings=[{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}])

    added = runtime.add(conflist, conf)

    assert added.result is not None
    assert [run.plugin_type for run in added.runs] == ["ptp", "portmap"]
    assert all(run.wall_seconds > 0 for run in added.runs)
    assert added.wall_seconds >= sum(run.wall_seconds for run in added.runs)
    assert added.result["ips"][0]["address"] == "10.244.1.2/24"
    host_veth = next(i["name"] for i in added.result["interfaces"] if "sandbox" not in i)
    assert f"10.244.1.2 dev {host_veth} scope host" in run_ip("route", "show", netns=node)
    assert "10.244.1.2/24" in run_ip("-o", "addr", "show", "dev", "eth0", netns=pod)
    # portmap only learns the pod IP from prevResult: its DNAT proves the chaining.
    assert "--to-destination 10.244.1.2:80" in nat_rules(node)
    assert runtime.cached_attachment(conflist, conf.container_id, "eth0") is not None

    deleted = runtime.delete(conflist, conf)

    assert [run.plugin_type for run in deleted.runs] == ["portmap", "ptp"]
    assert "10.244.1.2" not in run_ip("route", "show", netns=node)
    assert "10.244.1.2:80" not in nat_rules(node)
    assert not (tmp_path / "ipam" / "kindnet" / "10.244.1.2").exists()
    assert runtime.cached_attachment(conflist, conf.container_id, "eth0") is None


def test_check_passes_then_reports_the_failing_plugin(
    netns: NetnsFactory, node_runtime: tuple[str, CniRuntime], tmp_path: Path
) -> None:
    node, runtime = node_runtime
    pod = netns("pod")
    conflist = parse_conflist(kindnet_conflist("1.0.0", tmp_path / "ipam"))
    conf = pod_conf(pod)
    runtime.add(conflist, conf)

    checked = runtime.check(conflist, conf)
    assert [run.plugin_type for run in checked.runs] == ["ptp", "portmap"]

    run_ip("addr", "flush", "dev", "eth0", netns=pod)
    with pytest.raises(PluginError) as failure:
        runtime.check(conflist, conf)
    assert failure.value.plugin_type == "ptp"
    assert failure.value.command == "CHECK"
    assert failure.value.code is not None
    assert failure.value.msg
    assert [run.plugin_type for run in failure.value.runs] == ["ptp"]

    deleted = runtime.delete(conflist, conf)
    assert [run.plugin_type for run in deleted.runs] == ["portmap", "ptp"]
    assert "10.244.1.2" not in run_ip("route", "show", netns=node)


def test_add_failure_carries_the_cni_error(
    netns: NetnsFactory, node_runtime: tuple[str, CniRuntime], tmp_path: Path
) -> None:
    _, runtime = node_runtime
    pod = netns("pod")
    conflist = parse_conflist(kindnet_conflist("1.0.0", tmp_path / "ipam"))
    conf = pod_conf(pod)
    runtime.add(conflist, conf)
    second = RuntimeConf(uuid.uuid4().hex, conf.netns, "eth0", conf.args)

    with pytest.raises(PluginError) as failure:
        runtime.add(conflist, second)

    assert failure.value.plugin_type == "ptp"
    assert failure.value.command == "ADD"
    assert isinstance(failure.value.code, int)
    assert "eth0" in failure.value.msg
    assert runtime.cached_attachment(conflist, second.container_id, "eth0") is None


def test_version_probe_and_validation(node_runtime: tuple[str, CniRuntime], tmp_path: Path) -> None:
    _, runtime = node_runtime
    info = runtime.version("ptp")
    assert "1.0.0" in info.supported_versions
    assert "0.3.1" in info.supported_versions

    assert len(runtime.validate(parse_conflist(kindnet_conflist("0.3.1", tmp_path)))) == 2
    with pytest.raises(ConfigError, match=r"1\.1\.0"):
        runtime.validate(parse_conflist(kindnet_conflist("1.1.0", tmp_path)))


def test_check_on_old_version_and_missing_plugin_are_typed_errors(
    netns: NetnsFactory, node_runtime: tuple[str, CniRuntime], tmp_path: Path
) -> None:
    _, runtime = node_runtime
    pod = netns("pod")
    with pytest.raises(UnsupportedCommandError):
        runtime.check(parse_conflist(kindnet_conflist("0.3.1", tmp_path)), pod_conf(pod))
    missing = parse_conflist(
        json.dumps({"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "nope"}]})
    )
    with pytest.raises(PluginNotFoundError):
        runtime.add(missing, pod_conf(pod))
