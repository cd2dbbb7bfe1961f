"""Issue 3's cluster behaviours on real labs: joins and leaves, restarts, quarantine, fencing.

Timing-sensitive tests run with a 3 s node lease and a 6 s quarantine. Latencies are
printed (run with -s) and only bounded generously, because CI machines are slow.
"""

from __future__ import annotations

import ipaddress
import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from netagent.dataplane.naming import host_veth_name
from tests.conftest import NetnsFactory
from tests.dataplane.kernel_view import ipv4_routes, links
from tests.e2e.podman import Podman
from tests.lab.cluster_probes import (
    add_pod_on,
    agent_metric,
    agent_status,
    cni_add,
    cni_del,
    cni_status,
    ipamd_allocations,
    lab_json,
    masquerade_rules,
    node_of,
    peer_route_list,
    peer_routes,
    pods_of,
    wait_for,
)
from tests.lab.conftest import LabRunner
from tests.lab.route_monitor import RouteMonitor
from tests.lab.test_lab_cluster import pid_alive, recorded_pids
from tools.cniexec import PluginError
from tools.lab.errors import PodError
from tools.lab.icmp import ping_once
from tools.lab.netns import list_netns, run_ip
from tools.lab.probes import json_events

CLUSTER_CIDR = "10.244.0.0/16"
SHORT_TIMERS = ("--node-lease-ttl", "3", "--quarantine", "6")
GENEROUS = 10.0  # seconds: the issue wants <= 1 s in the lab; CI only checks this bound


def last_event_at(log: str, event: str) -> float:
    events = json_events(Path(log), event)
    assert events, f"no {event!r} in {log}"
    return datetime.fromisoformat(events[-1]["ts"]).timestamp()


def routes_expected(nodes: list[dict[str, Any]], own: dict[str, Any]) -> set[tuple[str, str]]:
    return {(n["pod_cidr"], n["ip"]) for n in nodes if n["role"] != own["role"]}


def test_five_nodes_ping_matrix_masquerade_join_leave_and_down(lab: LabRunner) -> None:
    lab.ok("up", "--nodes", "5", *SHORT_TIMERS, "--timeout", "90")
    lab.ok("pods", "add", "--count", "4")
    pods = pods_of(lab)
    assert sorted(pod["node"] for pod in pods) == ["worker", "worker2", "worker3", "worker4"]
    assert "12/12 pairs reachable" in lab.ok("ping")

    # Masquerade: one rule per node, for its own range leaving the cluster CIDR only; the
    # cross-node pings above kept their source address, so no packet hit it.
    nodes = lab_json(lab)["nodes"]
    for node in nodes:
        assert masquerade_rules(node["netns"]) == [
            (node["pod_cidr"], "!=", CLUSTER_CIDR, "masquerade", 0)
        ]
    # Leaving the cluster (to the "docker network" gateway) is masqueraded: the gateway has
    # no route to pod ranges, so the reply only comes back through the node's SNAT.
    pod = pods[0]
    assert ping_once(pod["netns"], lab_json(lab)["gateway"], 2.0) is not None
    pod_node = node_of(lab, pod["node"])
    assert masquerade_rules(pod_node["netns"])[0][4] == 1

    # A node joins: every other node's table gains `<its range> via <its ip>`.
    with RouteMonitor([node["netns"] for node in nodes]) as monitor:
        lab.ok("node", "add")
    joined = node_of(lab, "worker5")
    assert joined["ip"] == "172.18.0.7" and joined["pod_cidr"]
    assert joined["pod_cidr"] not in {node["pod_cidr"] for node in nodes}
    for node in nodes:
        assert (joined["pod_cidr"], joined["ip"]) in peer_routes(node["netns"])
    assert peer_routes(joined["netns"]) == routes_expected(nodes, joined)
    acquired = last_event_at(joined["agent"]["log"], "range_acquired")
    seen = monitor.first_change(joined["pod_cidr"], deleted=False)
    assert set(seen) == {node["netns"] for node in nodes}
    join_latency = {ns.removeprefix(lab.prefix): at - acquired for ns, at in seen.items()}
    print(
        "join: joining agent logs its range -> route in each peer's table "
        f"(negative: before the joining agent got ipamd's reply): {_ms(join_latency)}"
    )
    assert max(join_latency.values()) <= GENEROUS

    lab.ok("pods", "add", "--count", "1")
    assert [p["node"] for p in pods_of(lab) if p["name"] == "webserver-5"] == ["worker5"]
    assert "20/20 pairs reachable" in lab.ok("ping")

    # A node leaves: its pods go, its namespace and state go, and once its lease lapses
    # every remaining node's table loses its range.
    leaving = node_of(lab, "worker4")
    staying = [n["netns"] for n in lab_json(lab)["nodes"] if n["role"] != "worker4"]
    route = (leaving["pod_cidr"], leaving["ip"])
    with RouteMonitor(staying) as monitor:
        remove_started = time.time()
        lab.ok("node", "remove", "worker4")
        wait_for(
            lambda: all(route not in peer_routes(ns) for ns in staying),
            GENEROUS + 3,
            "the departed node's route to disappear everywhere",
        )
    assert leaving["netns"] not in list_netns(lab.prefix)
    assert not (lab.state_dir / "nodes" / "worker4").exists()
    assert "worker4" not in {node["role"] for node in lab_json(lab)["nodes"]}
    assert "worker4" not in {pod["node"] for pod in pods_of(lab)}
    gone = monitor.first_change(leaving["pod_cidr"], deleted=True)
    assert set(gone) == set(staying)
    leave_latency = {ns.removeprefix(lab.prefix): at - remove_started for ns, at in gone.items()}
    spread = max(gone.values()) - min(gone.values())
    print(
        f"leave: `node remove` -> route gone (includes the 3 s lease TTL): {_ms(leave_latency)}; "
        f"first to last node {spread * 1000:.0f} ms"
    )
    assert spread <= GENEROUS
    assert "12/12 pairs reachable" in lab.ok("ping")

    # down removes everything, the joined node and its agent included.
    pids = recorded_pids(lab.state_dir)
    assert joined["agent"]["pid"] in pids
    lab.ok("down")
    assert list_netns(lab.prefix) == []
    assert not lab.state_dir.exists()
    wait_for(lambda: not any(pid_alive(pid) for pid in pids), 5, "every daemon to exit")
    root_state = run_ip("route", "show") + run_ip("-o", "addr", "show")
    assert "172.18." not in root_state and "10.244." not in root_state


def _ms(latencies: dict[str, float]) -> str:
    return ", ".join(
        f"{name} {seconds * 1000:.0f} ms" for name, seconds in sorted(latencies.items())
    )


def test_agent_restart_keeps_its_range_pods_and_conflist(lab: LabRunner) -> None:
    lab.ok("up", "--nodes", "2", *SHORT_TIMERS)
    lab.ok("pods", "add", "--count", "2")
    add_pod_on(lab, "control-plane", "cp")
    pods_before = {pod["name"]: pod["ip"] for pod in pods_of(lab)}
    assert "6/6 pairs reachable" in lab.ok("ping")
    for refused in (("node", "remove", "control-plane"), ("node", "stop", "worker9")):
        done = lab.run(*refused)
        assert done.returncode == 1 and done.stderr.startswith("podnet-lab: "), done.stderr
    worker = node_of(lab, "worker")
    conflist = Path(worker["conflist"])
    written = conflist.stat()
    content = conflist.read_text()
    recorded = {pod["container_id"]: pod["ip"] for pod in pods_of(lab) if pod["node"] == "worker"}
    assert ipamd_allocations(lab, worker["name"]) == recorded

    # A crash: the conflist stays, and the pods keep talking without their agent.
    lab.ok("node", "stop", "worker", "--kill")
    assert not pid_alive(worker["agent"]["pid"])
    assert "not running" in lab.ok("node", "stop", "worker")
    assert conflist.exists()
    assert "6/6 pairs reachable" in lab.ok("ping")
    lab.ok("node", "start", "worker")
    assert "already running" in lab.ok("node", "start", "worker")
    restarted = node_of(lab, "worker")
    assert restarted["agent"]["pid"] != worker["agent"]["pid"]
    assert restarted["pod_cidr"] == worker["pod_cidr"]
    # Same range, same content: the conflist was not rewritten.
    after = conflist.stat()
    assert (after.st_ino, after.st_mtime_ns) == (written.st_ino, written.st_mtime_ns)
    assert {pod["name"]: pod["ip"] for pod in pods_of(lab)} == pods_before
    assert ipamd_allocations(lab, worker["name"]) == recorded
    log = restarted["agent"]["log"]
    assert not json_events(Path(log), "reconcile_removed_orphan_veth")
    assert not json_events(Path(log), "reconcile_released_orphan_allocation")
    assert "6/6 pairs reachable" in lab.ok("ping")

    # A clean shutdown removes the conflist (the lab runs agents with
    # --remove-conf-on-exit); the next start writes the same one again.
    lab.ok("node", "stop", "worker")
    assert not conflist.exists()
    lab.ok("node", "start", "worker")
    assert conflist.read_text() == content
    assert node_of(lab, "worker")["pod_cidr"] == worker["pod_cidr"]
    assert ipamd_allocations(lab, worker["name"]) == recorded
    assert "6/6 pairs reachable" in lab.ok("ping")


def test_silent_node_is_quarantined_then_reclaimed_and_one_back_in_time_keeps_its_range(
    lab: LabRunner,
) -> None:
    lab.ok("up", "--nodes", "3", *SHORT_TIMERS)
    lab.ok("pods", "add", "--count", "2")
    pod_on = {pod["node"]: pod for pod in pods_of(lab)}
    control_plane, worker, worker2 = lab_json(lab)["nodes"]

    # worker2 crashes. Its peers drop its route once its lease lapses (~TTL); ipamd keeps
    # its range and pods through the quarantine.
    lab.ok("node", "stop", "worker2", "--kill")
    killed = time.monotonic()
    route2 = (worker2["pod_cidr"], worker2["ip"])
    lapse = wait_for(
        lambda: all(route2 not in peer_routes(n["netns"]) for n in (control_plane, worker)),
        GENEROUS,
        "worker2's route to go when its lease lapses",
    )
    print(f"crashed node's route gone from its peers after {lapse:.2f}s (lease TTL 3 s)")
    assert ipamd_allocations(lab, worker2["name"]) == {
        pod_on["worker2"]["container_id"]: pod_on["worker2"]["ip"]
    }
    # It comes back within the quarantine: same range, same pods, routed again.
    lab.ok("node", "start", "worker2")
    assert time.monotonic() - killed < 3 + 6
    assert node_of(lab, "worker2")["pod_cidr"] == worker2["pod_cidr"]
    assert ipamd_allocations(lab, worker2["name"]) == {
        pod_on["worker2"]["container_id"]: pod_on["worker2"]["ip"]
    }
    wait_for(
        lambda: all(route2 in peer_routes(n["netns"]) for n in (control_plane, worker)),
        GENEROUS,
        "worker2's route to come back",
    )
    assert "2/2 pairs reachable" in lab.ok("ping")

    # worker crashes and stays away: routes go after the TTL, its range and pod records
    # stay through the quarantine, then ipamd reclaims them.
    lab.ok("node", "stop", "worker", "--kill")
    killed = time.monotonic()
    route1 = (worker["pod_cidr"], worker["ip"])
    wait_for(
        lambda: all(route1 not in peer_routes(n["netns"]) for n in (control_plane, worker2)),
        GENEROUS,
        "worker's route to go",
    )
    assert ipamd_allocations(lab, worker["name"]) == {
        pod_on["worker"]["container_id"]: pod_on["worker"]["ip"]
    }
    assert time.monotonic() - killed < 3 + 6, "checked within TTL + quarantine"
    wait_for(
        lambda: ipamd_allocations(lab, worker["name"]) == {},
        3 + 6 + GENEROUS,
        "worker's range to be reclaimed",
    )
    reclaimed_after = time.monotonic() - killed
    print(f"crashed node's range reclaimed {reclaimed_after:.2f}s after the crash (TTL 3 s + 6 s)")
    assert reclaimed_after >= 6

    # The reclaimed range goes to a new node, empty of the old pod records.
    lab.ok("node", "add")
    newcomer = node_of(lab, "worker3")
    assert newcomer["pod_cidr"] == worker["pod_cidr"]
    assert ipamd_allocations(lab, newcomer["name"]) == {}
    lab.ok("pods", "add", "--count", "1", "--name", "late")
    late = next(pod for pod in pods_of(lab) if pod["name"] == "late-1")
    assert late["node"] == "worker3"
    assert ping_once(late["netns"], pod_on["worker2"]["ip"], 2.0) is not None
    assert ping_once(pod_on["worker2"]["netns"], late["ip"], 2.0) is not None


def test_node_cut_off_past_its_quarantine_drops_the_pods_of_its_reclaimed_range(
    lab: LabRunner,
) -> None:
    lab.ok("up", "--nodes", "3", *SHORT_TIMERS)
    lab.ok("pods", "add", "--count", "2")
    pod_on = {pod["node"]: pod for pod in pods_of(lab)}
    worker2 = lab_json(lab)["nodes"][2]
    stale = pod_on["worker2"]

    # worker2 loses ipamd but keeps running: its agent fences ADD once its lease is past
    # the TTL, and ipamd reclaims the range after the quarantine.
    lab.ok("node", "cut", "worker2")
    wait_for(
        lambda: ipamd_allocations(lab, worker2["name"]) == {},
        3 + 6 + GENEROUS,
        "worker2's range to be reclaimed",
    )
    with pytest.raises(PodError) as fenced:
        add_pod_on(lab, "worker2", "fenced")
    assert cni_code(fenced.value) == 11, fenced.value

    # Back in touch, worker2 learns its range was reclaimed (with every pod allocation in
    # it), holds a range again and disconnects the pods attached before: their addresses
    # may be handed out again, here or on another node.
    lab.ok("node", "heal", "worker2")
    stale_veth = host_veth_name(stale["container_id"], "eth0")
    # TCP retransmission backoff after the drops can delay the first renewal by seconds.
    took = wait_for(
        lambda: stale_veth not in links(worker2["netns"]),
        GENEROUS * 4,
        "worker2 to remove the veth of its stale pod",
    )
    print(f"stale pod disconnected {took:.2f}s after the node reconnected")
    after = wait_for_add(lambda: add_pod_on(lab, "worker2", "after"))
    print(f"stale pod had {stale['ip']}; the first pod after the reclaim got {after['ip']}")
    assert ipamd_allocations(lab, worker2["name"]) == {after["container_id"]: after["ip"]}
    assert pod_host_routes(worker2["netns"]) == [after["ip"]]
    assert ping_once(after["netns"], pod_on["worker"]["ip"], 2.0) is not None
    assert ping_once(pod_on["worker"]["netns"], after["ip"], 2.0) is not None
    assert json_events(Path(worker2["agent"]["log"]), "range_reclaimed")


def pod_host_routes(netns: str) -> list[str]:
    """Destinations of the node's /32 routes to its pods, sorted, duplicates kept."""
    routes = ipv4_routes(netns)
    return sorted(r["dst"] for r in routes if "gateway" not in r and "/" not in r["dst"])


def wait_for_add(add: Callable[[], dict[str, Any]], within: float = GENEROUS) -> dict[str, Any]:
    """The first ADD that is not fenced (code 11) within `within` seconds."""
    deadline = time.monotonic() + within
    while True:
        try:
            return add()
        except PodError as error:
            if cni_code(error) != 11 or time.monotonic() > deadline:
                raise
            time.sleep(0.2)


def cni_code(error: PodError) -> int | None:
    cause = error.__cause__
    return cause.code if isinstance(cause, PluginError) else None


def test_ipamd_outage_fences_adds_and_its_restart_loses_no_update(
    lab: LabRunner, netns: NetnsFactory, tmp_path: Path
) -> None:
    lab.ok("up", "--nodes", "2", *SHORT_TIMERS)
    lab.ok("pods", "add", "--count", "1")
    cp_pod = add_pod_on(lab, "control-plane", "cp")
    nodes = lab_json(lab)["nodes"]
    worker = node_of(lab, "worker")
    routes_before = {node["netns"]: peer_route_list(node["netns"]) for node in nodes}
    assert cni_status(worker, tmp_path).result is None  # exit 0: ready

    # A quick restart (a crash and a start, well within the lease TTL): the agents resume
    # their streams and no route changes anywhere.
    with RouteMonitor([node["netns"] for node in nodes]) as monitor:
        lab.ok("ipamd", "restart", "--kill")
        wait_for(
            lambda: all(json_events(Path(n["agent"]["log"]), "peer_stream_lost") for n in nodes),
            GENEROUS,
            "every agent to notice the restart",
        )
        for node in nodes:  # STATUS passes only while the agent's stream is up again
            wait_for(partial(_status_ok, node, tmp_path), GENEROUS, "STATUS to pass")
    assert monitor.events() == []
    assert {n["netns"]: peer_route_list(n["netns"]) for n in nodes} == routes_before
    assert agent_status(worker)["fenced"] is False

    # ipamd stays away longer than the lease TTL: the agent fences itself.
    lab.ok("ipamd", "stop")
    fenced = wait_for(
        lambda: agent_status(worker)["fenced"] is True,
        GENEROUS,
        "the worker's agent to fence itself",
    )
    view = agent_status(worker)
    assert (view["range"], view["fenced_reason"]) == (None, "no pod range held")
    assert view["ipamd_stream_connected"] is False
    print(f"agent fenced {fenced:.2f}s after ipamd stopped (lease TTL 3 s)")
    # /status reads the lease clock, so it shows the fence first; the gauge follows
    # at the heartbeat loop's next turn (a third of the TTL).
    wait_for(
        lambda: agent_metric(worker, "podnet_node_range_held") == 0,
        GENEROUS,
        "the range_held gauge to drop",
    )
    with pytest.raises(PluginError) as status:
        cni_status(worker, tmp_path)
    assert status.value.code == 50
    pod_netns = netns("fenced")
    container_id = uuid.uuid4().hex * 2
    with pytest.raises(PluginError) as refused:
        cni_add(worker, tmp_path, pod_netns, container_id)
    assert refused.value.code == 11, refused.value
    assert "no pod range" in refused.value.msg
    # The data plane does not need ipamd: routes stay, pods keep talking.
    assert {n["netns"]: peer_route_list(n["netns"]) for n in nodes} == routes_before
    assert "2/2 pairs reachable" in lab.ok("ping")

    # ipamd returns: the agent holds its range again and ADD works. Every lease lapsed
    # while ipamd was away; ipamd restores the lapses no replica saw before it serves,
    # and agents apply a resumed stream's burst (the lapse, then the restore) as one
    # change, so no peer route is withdrawn, not even for a moment.
    with RouteMonitor([node["netns"] for node in nodes]) as monitor:
        lab.ok("ipamd", "start")
        for node in nodes:
            wait_for(partial(_status_ok, node, tmp_path), GENEROUS, "STATUS to pass")
        time.sleep(1.0)  # the resumed streams' replays have landed well before this
    assert monitor.events() == [], _flaps(monitor)
    assert {n["netns"]: peer_route_list(n["netns"]) for n in nodes} == routes_before
    added = cni_add(worker, tmp_path, pod_netns, container_id)
    assert added.result is not None
    address = added.result["ips"][0]["address"].split("/")[0]
    assert ipaddress.IPv4Address(address) in ipaddress.IPv4Network(worker["pod_cidr"])
    assert ping_once(cp_pod["netns"], address, 2.0) is not None
    cni_del(worker, tmp_path, pod_netns, container_id)

    # Same processes, resumed from their last revision; nothing lost, nothing doubled.
    assert {n["netns"]: peer_route_list(n["netns"]) for n in nodes} == routes_before
    for node in nodes:
        assert pid_alive(node["agent"]["pid"])
        resumes = json_events(Path(node["agent"]["log"]), "peer_stream_lost")
        assert resumes and all(event["resume_revision"] > 0 for event in resumes)
        assert agent_metric(node, "podnet_peer_routes") == 1
        assert node_of(lab, node["role"])["pod_cidr"] == node["pod_cidr"]

    # A node joining after the restart reaches every agent over the resumed streams.
    with RouteMonitor([node["netns"] for node in nodes]) as monitor:
        lab.ok("node", "add")
    joined = node_of(lab, "worker2")
    acquired = last_event_at(joined["agent"]["log"], "range_acquired")
    seen = monitor.first_change(joined["pod_cidr"], deleted=False)
    assert set(seen) == {node["netns"] for node in nodes}
    latency = {ns.removeprefix(lab.prefix): at - acquired for ns, at in seen.items()}
    print(f"join after an ipamd restart: {_ms(latency)}")
    assert max(latency.values()) <= GENEROUS

    # An agent that was down while one node joined and another left converges on start:
    # its kernel still has the departed node's route and lacks the new one until then.
    lab.ok("node", "stop", "worker")
    lab.ok("node", "add")
    newcomer = node_of(lab, "worker3")
    lab.ok("node", "remove", "worker2")
    departed = (joined["pod_cidr"], joined["ip"])
    control_plane_netns = nodes[0]["netns"]
    wait_for(
        lambda: departed not in peer_routes(control_plane_netns),
        GENEROUS,
        "worker2's lease to lapse",
    )
    assert departed in peer_routes(worker["netns"])
    assert (newcomer["pod_cidr"], newcomer["ip"]) not in peer_routes(worker["netns"])
    lab.ok("node", "start", "worker")
    everyone = lab_json(lab)["nodes"]
    assert peer_route_list(worker["netns"]) == sorted(routes_expected(everyone, worker))
    assert "2/2 pairs reachable" in lab.ok("ping")


def _flaps(monitor: RouteMonitor) -> str:
    """How the resumed streams replayed the leases that lapsed during the outage."""
    gaps = []
    for event in monitor.events():
        if event.deleted:
            back = [
                later.at
                for later in monitor.events()
                if not later.deleted
                and later.netns == event.netns
                and later.dst == event.dst
                and later.at >= event.at
            ]
            gaps.append((back[0] if back else float("inf")) - event.at)
    if not gaps:
        return "no route was withdrawn"
    return f"{len(gaps)} route(s) withdrawn and re-added, longest gap {max(gaps) * 1000:.0f} ms"


def _status_ok(node: dict[str, Any], cache: Path) -> bool:
    try:
        cni_status(node, cache)
    except PluginError:
        return False
    return True


def test_podman_on_a_lab_worker_reaches_a_pod_on_another_worker(lab: LabRunner) -> None:
    """podman runs in a mount namespace of its own (its netns mounts are private to it,
    as for a runtime in a kind node container); tests/e2e covers the shared case."""
    lab.ok("up", "--nodes", "3")
    lab.ok("pods", "add", "--count", "1")
    target = pods_of(lab)[0]
    assert target["node"] == "worker"
    worker2 = node_of(lab, "worker2")
    work = Path(tempfile.mkdtemp(prefix="pnpm-"))  # podman refuses a runroot > 50 chars
    try:
        podman = Podman(
            worker2["netns"],
            work,
            Path(worker2["cni_conf_dir"]),
            Path(lab_json(lab)["cni_bin_dir"]),
            private_mounts=True,
        )
        podman.prepare()
        run = podman.run("podnet", f"ip -4 addr show eth0; ping -c1 -W2 {target['ip']}")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    assert run.returncode == 0, run.stdout + run.stderr
    assert " 0% packet loss" in run.stdout
    address = re.search(r"inet (\d+\.\d+\.\d+\.\d+)/24", run.stdout)
    assert address is not None
    assert ipaddress.IPv4Address(address.group(1)) in ipaddress.IPv4Network(worker2["pod_cidr"])
    # podman's stop ran DEL through libcni: the address went back to ipamd.
    assert ipamd_allocations(lab, worker2["name"]) == {}
