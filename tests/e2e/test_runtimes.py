"""Real runtimes and chains: podman (libcni) and podnet followed by the reference portmap."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from tests.conftest import NetnsFactory
from tests.e2e.ipamd_probe import allocations
from tests.e2e.podman import Podman
from tests.e2e.single_node import SingleNode


def test_podman_gets_its_address_from_podnet_and_stop_releases_it(node: SingleNode) -> None:
    work = Path(tempfile.mkdtemp(prefix="pnpm-"))
    try:
        run_podman_against_node(node, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_podman_in_a_private_mount_namespace_gets_working_pods(
    node: SingleNode, netns: NetnsFactory
) -> None:
    """The netns podman mounts exists only in its own mount namespace: the agent must
    resolve CNI_NETNS the way the calling shim sees it, for ADD and for DEL."""
    neighbour = node.cni("ADD", "ctr-neighbour", f"/run/netns/{netns('pod')}")
    assert neighbour.returncode == 0, neighbour.stdout
    neighbour_ip = neighbour.json["ips"][0]["address"].split("/")[0]
    work = Path(tempfile.mkdtemp(prefix="pnpm-"))
    try:
        run_podman_against_node(
            node,
            work,
            private_mounts=True,
            also_ping=neighbour_ip,
            kept={("ctr-neighbour", "eth0")},
        )
    finally:
        shutil.rmtree(work, ignore_errors=True)
        node.cni("DEL", "ctr-neighbour")


def run_podman_against_node(
    node: SingleNode,
    work: Path,
    private_mounts: bool = False,
    also_ping: str = "",
    kept: frozenset[tuple[str, str]] | set[tuple[str, str]] = frozenset(),
) -> None:
    """Runs a podman pod that pings the gateway (and also_ping); after it, podnet holds
    only the attachments in kept (the pod's address and veth are gone)."""
    podman = Podman(node.netns, work, node.conf_dir, node.cni_bin, private_mounts)
    podman.prepare()
    gateway = node.conflist["plugins"][0]["nodeRange"].split("/")[0].rsplit(".", 1)[0] + ".1"
    script = f"ip -4 addr show eth0; ping -c1 -W2 {gateway}"
    if also_ping:
        script += f" && ping -c1 -W2 {also_ping}"
    run = podman.run("podnet", script)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count(" 0% packet loss") == (2 if also_ping else 1)
    address = re.search(r"inet (\d+\.\d+\.\d+\.\d+)/24", run.stdout)
    assert address is not None and address.group(1).startswith(gateway.rsplit(".", 1)[0])
    assert set(allocations(node)) == set(kept)
    veths = subprocess.run(
        ["ip", "-n", node.netns, "-o", "link", "show", "type", "veth"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert len(veths.splitlines()) == len(kept), veths


def test_podnet_then_portmap_chain(node: SingleNode, netns: NetnsFactory) -> None:
    pod = netns("pod")
    env_netns = f"/run/netns/{pod}"
    conflist = node.conflist
    version = conflist["cniVersion"]
    podnet_conf = {**conflist["plugins"][0], "cniVersion": version, "name": conflist["name"]}
    add = node.cni("ADD", "ctr-pm", env_netns, config=podnet_conf)
    assert add.returncode == 0, add.stdout
    portmap_conf = {
        "type": "portmap",
        "capabilities": {"portMappings": True},
        "cniVersion": version,
        "name": conflist["name"],
        "prevResult": add.json,
        "runtimeConfig": {
            "portMappings": [{"hostPort": 18080, "containerPort": 80, "protocol": "tcp"}]
        },
    }
    # portmap works on the host side, so like every plugin it runs in the node namespace.
    chained = run_portmap(node, "ADD", env_netns, portmap_conf)
    assert chained.returncode == 0, chained.stdout + chained.stderr
    chained_result = json.loads(chained.stdout)
    assert chained_result["ips"] == add.json["ips"]
    assert "dport 18080" in node_nat_rules(node) or "--dport 18080" in node_nat_rules(node)

    with_prev = {**podnet_conf, "prevResult": chained_result}
    check = node.cni("CHECK", "ctr-pm", env_netns, config=with_prev)
    assert check.returncode == 0, check.stdout
    assert run_portmap(node, "DEL", env_netns, portmap_conf).returncode == 0
    assert "18080" not in node_nat_rules(node)
    delete = node.cni("DEL", "ctr-pm", env_netns, config=with_prev)
    assert delete.returncode == 0, delete.stdout
    assert allocations(node) == {}


def run_portmap(
    node: SingleNode, command: str, netns_path: str, config: dict[str, object]
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["ip", "netns", "exec", node.netns, "/usr/lib/cni/portmap"],
        input=json.dumps(config).encode(),
        capture_output=True,
        check=False,
        env={
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": "ctr-pm",
            "CNI_NETNS": netns_path,
            "CNI_IFNAME": "eth0",
            "CNI_ARGS": "",
            "CNI_PATH": str(node.cni_bin),
            "PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
        },
    )


def node_nat_rules(node: SingleNode) -> str:
    return subprocess.run(
        ["ip", "netns", "exec", node.netns, "iptables-save", "-t", "nat"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
