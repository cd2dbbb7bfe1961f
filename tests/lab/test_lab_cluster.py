"""podnet-lab end to end: the real daemons, the real shim, namespaces only."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

from tests.lab.conftest import LabRunner
from tools.lab.icmp import ping_once
from tools.lab.netns import create_netns, delete_netns, list_netns, run_ip


def pid_alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def recorded_pids(state_dir: Path) -> list[int]:
    lab = json.loads((state_dir / "lab.json").read_text())
    members = [member["daemon"] for member in lab["etcd_members"]]
    daemons = [*members, lab["ipamd"]] + [node["agent"] for node in lab["nodes"]]
    return [daemon["pid"] for daemon in daemons if daemon]


def test_two_node_lab_runs_pods_like_the_walkthrough(lab: LabRunner) -> None:
    started = time.monotonic()
    up = lab.ok("up", "--nodes", "2", "--timeout", "60")
    up_seconds = time.monotonic() - started
    assert "is up" in up
    assert "already up" in lab.ok("up", "--nodes", "2")
    lab_json = json.loads((lab.state_dir / "lab.json").read_text())
    control_plane, worker = lab_json["nodes"]
    assert lab_json["status"] == "ready"
    assert (control_plane["ip"], worker["ip"]) == ("172.18.0.2", "172.18.0.3")
    # Like kind's: ranges follow node order.
    assert (control_plane["pod_cidr"], worker["pod_cidr"]) == ("10.244.0.0/24", "10.244.1.0/24")
    assert Path(worker["conflist"]).is_file()
    pids = recorded_pids(lab.state_dir)
    assert len(pids) == 4 and all(pid_alive(pid) for pid in pids)

    added = lab.ok("pods", "add", "--count", "2", "--name", "webserver")
    assert added.count("pod webserver-") == 2

    shown = json.loads(lab.ok("show", "--json"))
    pods = shown["pods"]
    assert [pod["node"] for pod in pods] == ["worker", "worker"]
    text = lab.ok("show")
    # The walkthrough's routes: the peer's range via its node IP, a /32 per local pod.
    assert f"{worker['pod_cidr']} via 172.18.0.3 dev eth0" in text
    assert f"{control_plane['pod_cidr']} via 172.18.0.2 dev eth0" in text
    for pod in pods:
        assert re.search(
            rf"^\s+{re.escape(pod['ip'])} dev {pod['host_veth']} scope host", text, re.M
        )
    assert "default via 172.18.0.1 dev eth0" in text

    ping = lab.ok("ping")
    assert "2/2 pairs reachable" in ping
    # Across nodes: the control-plane reaches the worker's pods through its peer route.
    for pod in pods:
        assert ping_once(control_plane["netns"], pod["ip"]) is not None

    assert '"ready"' in lab.ok("logs", "worker")
    assert lab.ok("logs", "control-plane", "--daemon", "ipamd")
    assert lab.run("logs", "worker", "--daemon", "ipamd").returncode == 1

    lab.ok("pods", "del", "--all")
    assert not [name for name in list_netns(lab.prefix) if "-pod-" in name]
    assert pods[0]["ip"] not in run_ip("route", "show", netns=worker["netns"])

    lab.ok("down")
    assert list_netns(lab.prefix) == []
    assert not lab.state_dir.exists()
    assert not any(pid_alive(pid) for pid in pids)
    print(f"lab up --nodes 2 took {up_seconds:.1f}s")


def test_down_cleans_up_after_a_killed_up_and_spares_other_labs(lab: LabRunner) -> None:
    neighbour = f"{lab.prefix}2-worker"  # what a lab with a longer prefix would own
    create_netns(neighbour)
    try:
        up = subprocess.Popen(
            lab.argv("up", "--nodes", "2", "--timeout", "60"),
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        assert up.stdout is not None
        for line in up.stdout:
            if "starting ipamd" in line:
                break
        up.kill()
        up.wait()
        pids = recorded_pids(lab.state_dir)
        assert pids and all(pid_alive(pid) for pid in pids)

        refused = lab.run("up", "--nodes", "2")
        assert refused.returncode == 1 and "down" in refused.stderr

        lab.ok("down")
        lab.ok("down")

        assert list_netns(lab.prefix) == [neighbour]
        assert not lab.state_dir.exists()
        deadline = time.monotonic() + 5
        while any(pid_alive(pid) for pid in pids) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not any(pid_alive(pid) for pid in pids)
    finally:
        delete_netns(neighbour)


def test_three_node_lab_routes_pods_across_workers(lab: LabRunner) -> None:
    lab.ok("up", "--nodes", "3", "--timeout", "60")
    lab.ok("pods", "add", "--count", "2", "--name", "web")
    lab.ok("pods", "add", "--count", "2", "--name", "db")

    shown = json.loads(lab.ok("show", "--json"))
    placement = {pod["name"]: pod["node"] for pod in shown["pods"]}
    assert placement == {"db-1": "worker", "db-2": "worker2", "web-1": "worker", "web-2": "worker2"}
    worker2 = next(node for node in shown["nodes"] if node["role"] == "worker2")
    peers = [node for node in shown["nodes"] if node["role"] != "worker2"]
    for peer in peers:
        assert f"{peer['pod_cidr']} via {peer['ip']} dev eth0" in "\n".join(worker2["routes"])
    assert "12/12 pairs reachable" in lab.ok("ping")
    # Nothing of the lab leaks into the root namespace.
    root_state = run_ip("route", "show") + run_ip("-o", "addr", "show")
    assert "172.18." not in root_state and "10.244." not in root_state

    lab.ok("pods", "del", "--name", "web")
    remaining = json.loads(lab.ok("show", "--json"))["pods"]
    assert sorted(pod["name"] for pod in remaining) == ["db-1", "db-2"]
    assert "2/2 pairs reachable" in lab.ok("ping")

    lab.ok("down")
    assert list_netns(lab.prefix) == []
