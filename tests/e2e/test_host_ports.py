"""Host ports through the real shim: runtimeConfig.portMappings done by the agent in nftables."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from tests.conftest import NetnsFactory
from tests.e2e.ipamd_probe import allocations
from tests.e2e.single_node import SingleNode, ns_json

PODMAN_STYLE = [
    {"hostPort": 18080, "containerPort": 80, "protocol": "tcp"},
    {"hostPort": 15353, "containerPort": 53, "protocol": "udp"},
]
CONTAINERD_STYLE = [{"HostPort": 18080, "ContainerPort": 80, "Protocol": "TCP", "HostIP": ""}]


def host_port_elements(node: SingleNode) -> list[Any]:
    done = subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            node.netns,
            "nft",
            "-j",
            "list",
            "map",
            "ip",
            "podnet-hostports",
            "any_ip",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    maps = [item["map"] for item in json.loads(done.stdout)["nftables"] if "map" in item]
    elements: list[Any] = maps[0].get("elem", [])
    return elements


def with_ports(node: SingleNode, mappings: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return node.plugin_config(runtimeConfig={"portMappings": mappings}, **extra)


def test_port_mappings_are_added_checked_and_removed(node: SingleNode, netns: NetnsFactory) -> None:
    pod = netns("pod")
    add = node.cni("ADD", "ctr-hp", f"/run/netns/{pod}", config=with_ports(node, PODMAN_STYLE))
    assert add.returncode == 0, add.stdout
    pod_ip = add.json["ips"][0]["address"].split("/")[0]
    assert sorted(map(json.dumps, host_port_elements(node))) == sorted(
        map(
            json.dumps,
            [
                [{"concat": ["tcp", 18080]}, {"concat": [pod_ip, 80]}],
                [{"concat": ["udp", 15353]}, {"concat": [pod_ip, 53]}],
            ],
        )
    )
    check = node.cni(
        "CHECK",
        "ctr-hp",
        f"/run/netns/{pod}",
        config=with_ports(node, PODMAN_STYLE, prevResult=add.json),
    )
    assert check.returncode == 0, check.stdout

    subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            node.netns,
            "nft",
            "delete",
            "element",
            "ip",
            "podnet-hostports",
            "any_ip",
            "{ udp . 15353 }",
        ],
        check=True,
    )
    broken = node.cni(
        "CHECK",
        "ctr-hp",
        f"/run/netns/{pod}",
        config=with_ports(node, PODMAN_STYLE, prevResult=add.json),
    )
    assert broken.returncode != 0 and broken.json["code"] == 103

    delete = node.cni("DEL", "ctr-hp", "", config=node.plugin_config())
    assert delete.returncode == 0, delete.stdout
    assert host_port_elements(node) == []


def test_a_taken_host_port_fails_the_add_and_holds_nothing(
    node: SingleNode, netns: NetnsFactory
) -> None:
    first, second = netns("pod"), netns("pod")
    assert (
        node.cni(
            "ADD", "ctr-1", f"/run/netns/{first}", config=with_ports(node, PODMAN_STYLE)
        ).returncode
        == 0
    )
    clash = node.cni(
        "ADD", "ctr-2", f"/run/netns/{second}", config=with_ports(node, CONTAINERD_STYLE)
    )
    assert clash.returncode != 0
    assert clash.json["code"] == 102 and "host port" in clash.json["msg"]
    assert set(allocations(node)) == {("ctr-1", "eth0")}
    assert [link["ifname"] for link in ns_json(second, "link", "show")] == ["lo"]
    assert len(host_port_elements(node)) == 2


def test_host_ports_survive_an_agent_restart_and_del_still_removes_them(
    node: SingleNode, netns: NetnsFactory
) -> None:
    pod = netns("pod")
    assert (
        node.cni(
            "ADD", "ctr-1", f"/run/netns/{pod}", config=with_ports(node, CONTAINERD_STYLE)
        ).returncode
        == 0
    )
    node.stop_agent()
    node.start_agent()
    assert len(host_port_elements(node)) == 1
    assert node.cni("DEL", "ctr-1", f"/run/netns/{pod}").returncode == 0
    assert host_port_elements(node) == []
