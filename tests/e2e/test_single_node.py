"""One node end to end: the real podnet executable -> agent -> ipamd -> etcd."""

from __future__ import annotations

import ipaddress
import json
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from podnet.shim.versions import SUPPORTED_VERSIONS

from tests.conftest import NetnsFactory
from tests.e2e.ipamd_probe import allocations
from tests.e2e.single_node import SingleNode, ns_json
from tools.lab.netns import delete_netns
from tools.lab.processes import wait_until

K8S_ARGS = "IgnoreUnknown=1;K8S_POD_NAMESPACE=default;K8S_POD_NAME=web-0;K8S_POD_UID=abc-123"


def host_veths(node: SingleNode) -> list[str]:
    return [
        link["ifname"]
        for link in ns_json(node.netns, "link", "show")
        if link["ifname"].startswith("veth")
    ]


def pod_ping(pod_ns: str, address: str) -> bool:
    done = subprocess.run(
        ["ip", "netns", "exec", pod_ns, "ping", "-c1", "-W2", address],
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_add_check_del_in_every_version(
    node: SingleNode, netns: NetnsFactory, version: str
) -> None:
    pod = netns("pod")
    config = node.plugin_config(version)
    add = node.cni("ADD", "ctr-1", f"/run/netns/{pod}", "eth0", config, K8S_ARGS)
    assert add.returncode == 0, add.stdout + add.stderr
    result = add.json
    assert result["cniVersion"] == version
    host_iface, pod_iface = result["interfaces"]
    assert host_iface["name"].startswith("veth") and "sandbox" not in host_iface
    assert pod_iface == {
        "name": "eth0",
        "mac": pod_iface["mac"],
        "sandbox": f"/run/netns/{pod}",
        **({"mtu": pod_iface["mtu"]} if "mtu" in pod_iface else {}),
    }
    (ip,) = result["ips"]
    assert ip["interface"] == 1
    assert ("version" in ip) == version.startswith("0.")
    address = ipaddress.IPv4Interface(ip["address"])
    node_range = ipaddress.IPv4Network(node.conflist["plugins"][0]["nodeRange"])
    assert address.ip in node_range and address.network == node_range
    assert ip["gateway"] == str(node_range.network_address + 1)
    assert address.ip == node_range.network_address + 2, "first pod gets .2, like host-local"

    pod_addrs = ns_json(pod, "addr", "show", "eth0")[0]
    assert pod_addrs["address"] == pod_iface["mac"]
    v4 = {a["local"] for a in pod_addrs["addr_info"] if a["family"] == "inet"}
    assert v4 == {str(address.ip)}
    routes = ns_json(pod, "route", "show")
    assert any(r["dst"] == "default" and r.get("gateway") == ip["gateway"] for r in routes)
    host_routes = ns_json(node.netns, "route", "show", str(address.ip))
    assert host_routes and host_routes[0]["dev"] == host_iface["name"]
    assert "host" in host_routes[0].get("scope", "")
    assert pod_ping(pod, ip["gateway"])
    assert allocations(node) == {("ctr-1", "eth0"): str(address.ip)}

    if version not in ("0.3.0", "0.3.1"):
        check = node.cni(
            "CHECK",
            "ctr-1",
            f"/run/netns/{pod}",
            "eth0",
            {**config, "prevResult": result},
            K8S_ARGS,
        )
        assert check.returncode == 0, check.stdout
        assert check.stdout == ""

    delete = node.cni(
        "DEL", "ctr-1", f"/run/netns/{pod}", "eth0", {**config, "prevResult": result}, K8S_ARGS
    )
    assert delete.returncode == 0, delete.stdout
    assert host_veths(node) == []
    assert allocations(node) == {}
    again = node.cni("DEL", "ctr-1", f"/run/netns/{pod}", "eth0", config, K8S_ARGS)
    assert again.returncode == 0, again.stdout


def test_del_with_empty_or_deleted_netns_still_releases(
    node: SingleNode, netns: NetnsFactory
) -> None:
    first, second = netns("pod"), netns("pod")
    for cid, pod in (("ctr-a", first), ("ctr-b", second)):
        assert node.cni("ADD", cid, f"/run/netns/{pod}").returncode == 0
    assert len(allocations(node)) == 2
    delete_netns(first)
    gone = node.cni("DEL", "ctr-a", f"/run/netns/{first}")
    assert gone.returncode == 0, gone.stdout
    empty = node.cni("DEL", "ctr-b", "")
    assert empty.returncode == 0, empty.stdout
    assert allocations(node) == {}
    assert host_veths(node) == []


def test_check_fails_when_the_pod_interface_was_changed(
    node: SingleNode, netns: NetnsFactory
) -> None:
    pod = netns("pod")
    add = node.cni("ADD", "ctr-1", f"/run/netns/{pod}")
    subprocess.run(["ip", "-n", pod, "addr", "flush", "dev", "eth0"], check=True)
    check = node.cni(
        "CHECK", "ctr-1", f"/run/netns/{pod}", config=node.plugin_config(prevResult=add.json)
    )
    assert check.returncode != 0
    assert check.json["code"] >= 100 and check.json["msg"]


@dataclass(frozen=True)
class BadAdd:
    env: dict[str, str] = field(default_factory=dict)
    stdin: bytes | None = None
    config_drop: str = ""
    config_set: dict[str, str] = field(default_factory=dict)
    args: str = ""
    netns_is_regular_file: bool = False


BAD_INPUTS = [
    pytest.param(BadAdd(stdin=b"{not json"), 6, id="malformed-json"),
    pytest.param(BadAdd(config_drop="cniVersion"), 1, id="missing-cniVersion"),
    pytest.param(BadAdd(config_set={"cniVersion": "9.9.9"}), 1, id="unknown-cniVersion"),
    pytest.param(BadAdd(config_drop="name"), 7, id="missing-name"),
    pytest.param(BadAdd(env={"CNI_CONTAINERID": ""}), 4, id="missing-containerid"),
    pytest.param(BadAdd(env={"CNI_CONTAINERID": "-bad"}), 4, id="containerid-leading-dash"),
    pytest.param(BadAdd(env={"CNI_CONTAINERID": "a/b"}), 4, id="containerid-slash"),
    pytest.param(BadAdd(env={"CNI_IFNAME": ""}), 4, id="ifname-empty"),
    pytest.param(BadAdd(env={"CNI_IFNAME": "x" * 16}), 4, id="ifname-too-long"),
    pytest.param(BadAdd(env={"CNI_IFNAME": "et/0"}), 4, id="ifname-slash"),
    pytest.param(BadAdd(env={"CNI_IFNAME": "et:0"}), 4, id="ifname-colon"),
    pytest.param(BadAdd(env={"CNI_IFNAME": "et 0"}), 4, id="ifname-space"),
    pytest.param(BadAdd(env={"CNI_IFNAME": "."}), 4, id="ifname-dot"),
    pytest.param(BadAdd(env={"CNI_IFNAME": ".."}), 4, id="ifname-dotdot"),
    pytest.param(BadAdd(env={"CNI_NETNS": ""}), 4, id="netns-empty-on-add"),
    pytest.param(BadAdd(env={"CNI_NETNS": "/run/netns/does-not-exist"}), 3, id="netns-missing"),
    pytest.param(BadAdd(netns_is_regular_file=True), 4, id="netns-regular-file"),
    pytest.param(BadAdd(args="K8S_POD_NAME=x;SURPRISE=1"), 4, id="unknown-cni-arg"),
    pytest.param(BadAdd(args="garbage"), 4, id="malformed-cni-arg"),
]


@pytest.mark.parametrize(("case", "code"), BAD_INPUTS)
def test_bad_add_input_is_rejected_and_changes_nothing(
    node: SingleNode, netns: NetnsFactory, tmp_path: Path, case: BadAdd, code: int
) -> None:
    pod = netns("pod")
    env = {"CNI_NETNS": f"/run/netns/{pod}"}
    if case.netns_is_regular_file:
        regular = tmp_path / "not-a-netns"
        regular.write_text("")
        env["CNI_NETNS"] = str(regular)
    env.update(case.env)
    config = node.plugin_config()
    config.pop(case.config_drop, None)
    config.update(case.config_set)
    stdin = case.stdin or json.dumps(config).encode()
    call = node.cni("ADD", "ctr-bad", config=stdin, args=case.args, env_override=env)
    assert call.returncode != 0
    error = call.json
    assert error["code"] == code, error
    assert error["msg"]
    assert host_veths(node) == []
    assert allocations(node) == {}
    assert [link["ifname"] for link in ns_json(pod, "link", "show")] == ["lo"]


def test_add_with_existing_interface_fails_and_holds_nothing(
    node: SingleNode, netns: NetnsFactory
) -> None:
    pod = netns("pod")
    subprocess.run(["ip", "-n", pod, "link", "add", "eth0", "type", "bridge"], check=True)
    call = node.cni("ADD", "ctr-x", f"/run/netns/{pod}")
    assert call.returncode != 0 and call.json["code"] >= 100
    assert "exist" in (call.json["msg"] + call.json.get("details", "")).lower()
    assert host_veths(node) == []
    assert allocations(node) == {}


def test_fifty_concurrent_adds_through_the_real_agent(
    node: SingleNode, netns: NetnsFactory
) -> None:
    pods = [netns("pod") for _ in range(50)]

    def add(index: int) -> str:
        call = node.cni("ADD", f"ctr-{index}", f"/run/netns/{pods[index]}", args=K8S_ARGS)
        assert call.returncode == 0, call.stdout + call.stderr
        return str(call.json["ips"][0]["address"])

    with ThreadPoolExecutor(max_workers=50) as pool:
        addresses = list(pool.map(add, range(50)))
    assert len(set(addresses)) == 50
    assert len(allocations(node)) == 50
    assert len(host_veths(node)) == 50
    assert node.agent is not None and node.agent.poll() is None

    def delete(index: int) -> int:
        return node.cni("DEL", f"ctr-{index}", f"/run/netns/{pods[index]}").returncode

    with ThreadPoolExecutor(max_workers=50) as pool:
        assert set(pool.map(delete, range(50))) == {0}
    assert allocations(node) == {}
    assert host_veths(node) == []


def test_agent_down_add_retries_later_status_unavailable_del_spooled_and_replayed(
    node: SingleNode, netns: NetnsFactory
) -> None:
    pod = netns("pod")
    add = node.cni("ADD", "ctr-1", f"/run/netns/{pod}")
    assert add.returncode == 0
    node.stop_agent()

    other = netns("pod")
    refused = node.cni("ADD", "ctr-2", f"/run/netns/{other}")
    assert refused.returncode != 0 and refused.json["code"] == 11
    status = node.cni("STATUS", config=node.plugin_config("1.1.0"))
    assert status.returncode != 0 and status.json["code"] == 50
    spooled = node.cni("DEL", "ctr-1", f"/run/netns/{pod}")
    assert spooled.returncode == 0 and spooled.stdout == ""
    assert len(list(node.spool_dir.iterdir())) == 1
    assert allocations(node) != {}

    node.start_agent()
    assert allocations(node) == {}
    assert host_veths(node) == []
    assert list(node.spool_dir.iterdir()) == []


def pod_address(netns: str) -> str:
    (link,) = [x for x in ns_json(netns, "-4", "addr", "show", "dev", "eth0")]
    return str(link["addr_info"][0]["local"])


def test_container_id_reused_while_the_agent_was_down_keeps_the_new_pod(
    node: SingleNode, netns: NetnsFactory
) -> None:
    """podman stop + start: the same container id, a new netns, and the old DEL spooled
    by the shim while the agent was down. The replay must not touch the new pod."""
    first = netns("pod")
    assert node.cni("ADD", "ctr-1", f"/run/netns/{first}").returncode == 0
    node.stop_agent()
    assert node.cni("DEL", "ctr-1", f"/run/netns/{first}").returncode == 0
    second = netns("pod")
    assert node.cni("ADD", "ctr-1", f"/run/netns/{second}").json["code"] == 11

    node.start_agent()
    readded = node.cni("ADD", "ctr-1", f"/run/netns/{second}")

    assert readded.returncode == 0, readded.stdout + readded.stderr
    address = readded.json["ips"][0]["address"].split("/")[0]
    assert pod_address(second) == address
    assert allocations(node) == {("ctr-1", "eth0"): address}
    assert list(node.spool_dir.iterdir()) == []


def test_container_id_reused_before_a_spooled_release_is_replayed_keeps_the_new_pod(
    node: SingleNode, netns: NetnsFactory
) -> None:
    """The agent spooled the old pod's release (ipamd was down); the new pod's ADD comes
    as soon as ipamd is back, before the periodic replay: the old release is settled
    first, and the new pod keeps its allocation through every later replay."""
    first = netns("pod")
    assert node.cni("ADD", "ctr-1", f"/run/netns/{first}").returncode == 0
    node.stop_ipamd()
    wait_until(lambda: status_code(node) == 50, 10, "STATUS reports 50 while ipamd is down")
    assert node.cni("DEL", "ctr-1", f"/run/netns/{first}").returncode == 0
    assert len(list(node.spool_dir.iterdir())) == 1
    node.start_ipamd()
    second = netns("pod")
    wait_until(
        lambda: node.cni("ADD", "ctr-1", f"/run/netns/{second}").returncode == 0,
        15,
        "the re-ADD to succeed once ipamd is back",
    )
    address = pod_address(second)

    # Longer than the agent's spool retry period (5 s): any replay has run by now.
    wait_until(lambda: list(node.spool_dir.iterdir()) == [], 10, "the spool to be empty")
    time.sleep(6)
    assert allocations(node) == {("ctr-1", "eth0"): address}
    assert pod_address(second) == address


def test_del_while_ipamd_is_down_stays_spooled_until_ipamd_is_back(
    node: SingleNode, netns: NetnsFactory
) -> None:
    node.stop_agent()
    node.extra_agent_args = ["--ipamd-timeout", "1"]
    node.start_agent()
    pod = netns("pod")
    assert node.cni("ADD", "ctr-1", f"/run/netns/{pod}").returncode == 0
    node.stop_ipamd()

    spooled = node.cni("DEL", "ctr-1", f"/run/netns/{pod}")
    assert spooled.returncode == 0 and spooled.stdout == ""
    assert len(list(node.spool_dir.iterdir())) == 1
    # The agent retries the spooled DEL every few seconds; while ipamd is still down
    # the retry fails (code 11) and the spool file must stay.
    wait_until(
        lambda: del_count(node, code=0) + del_count(node, code=11) >= 2,
        20,
        "a replay of the spooled DEL",
    )
    assert len(list(node.spool_dir.iterdir())) == 1
    assert (del_count(node, code=0), del_count(node, code=11)) == (1, 1)

    node.start_ipamd()
    wait_until(lambda: not list(node.spool_dir.iterdir()), 20, "the spooled DEL replayed")
    assert allocations(node) == {}


def del_count(node: SingleNode, code: int) -> int:
    """How many DELs the agent answered with this code (its Prometheus histogram)."""
    _, metrics = node.http_get("/metrics")
    sample = f'podnet_cni_request_duration_seconds_count{{code="{code}",verb="DEL"}} '
    for line in metrics.splitlines():
        if line.startswith(sample):
            return int(float(line[len(sample) :]))
    return 0


def test_ipamd_restart_loses_nothing(node: SingleNode, netns: NetnsFactory) -> None:
    pods = [netns("pod") for _ in range(3)]
    before = {}
    for index, pod in enumerate(pods[:2]):
        call = node.cni("ADD", f"ctr-{index}", f"/run/netns/{pod}")
        before[(f"ctr-{index}", "eth0")] = call.json["ips"][0]["address"].split("/")[0]
    node.stop_ipamd()
    wait_until(lambda: status_code(node) == 50, 5, "STATUS reports 50 while ipamd is down")
    node.start_ipamd()
    assert allocations(node) == before
    third = node.cni("ADD", "ctr-2", f"/run/netns/{pods[2]}")
    assert third.returncode == 0, third.stdout
    assert third.json["ips"][0]["address"].split("/")[0] not in before.values()
    wait_until(lambda: status_code(node) == 0, 5, "STATUS succeeds once ipamd is back")


def status_code(node: SingleNode) -> int:
    call = node.cni("STATUS", config=node.plugin_config("1.1.0"))
    return int(call.json["code"]) if call.returncode else 0


@pytest.mark.parametrize("key", ["cni.dev/valid-attachments", "cni.dev/attachments"])
def test_gc_releases_what_is_not_valid(node: SingleNode, netns: NetnsFactory, key: str) -> None:
    pods = [netns("pod") for _ in range(3)]
    for index, pod in enumerate(pods):
        assert node.cni("ADD", f"ctr-{index}", f"/run/netns/{pod}").returncode == 0
    keep = [{"containerID": "ctr-1", "ifname": "eth0"}]
    gc = node.cni("GC", config=node.plugin_config("1.1.0", **{key: keep}))
    assert gc.returncode == 0, gc.stdout
    assert set(allocations(node)) == {("ctr-1", "eth0")}
    assert len(host_veths(node)) == 1
    everything = node.cni("GC", config=node.plugin_config("1.1.0"))
    assert everything.returncode == 0
    assert allocations(node) == {}


def test_conflist_metrics_and_health(node: SingleNode, netns: NetnsFactory) -> None:
    plugins = node.conflist["plugins"]
    assert [p["type"] for p in plugins] == ["podnet"]
    assert plugins[0]["capabilities"] == {"portMappings": True}
    pod = netns("pod")
    assert node.cni("ADD", "ctr-1", f"/run/netns/{pod}").returncode == 0
    status, body = node.http_get("/metrics")
    assert status == 200
    assert 'podnet_cni_request_duration_seconds_count{code="0",verb="ADD"} 1.0' in body
    assert "podnet_allocations_in_use 1.0" in body
    assert node.http_get("/healthz")[0] == 200
