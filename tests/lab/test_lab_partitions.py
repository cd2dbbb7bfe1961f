"""`node cut` / `node heal`: a worker loses ipamd and etcd but not its pods' traffic; the
cut is in lab.json and `show`, and `down` heals it first so pods' DELs reach ipamd."""

from __future__ import annotations

import json
import subprocess

from tests.lab.cluster_probes import lab_json, pods_of
from tests.lab.conftest import LabRunner
from tools.lab.netns import in_netns
from tools.lab.partition import TABLE
from tools.lab.processes import tcp_open


def reaches(netns: str, address: str) -> bool:
    host, _, port = address.rpartition(":")
    return tcp_open(host, int(port), netns)


def has_cut_table(netns: str) -> bool:
    done = subprocess.run(
        in_netns(netns, ["nft", "list", "table", "ip", TABLE]), capture_output=True, check=False
    )
    return done.returncode == 0


def test_a_cut_worker_loses_the_control_plane_but_not_its_pods_until_healed(
    lab: LabRunner,
) -> None:
    lab.ok("up", "--nodes", "3")
    lab.ok("pods", "add", "--count", "2")
    assert {pod["node"] for pod in pods_of(lab)} == {"worker", "worker2"}
    ipamd = lab_json(lab)["ipamd"]["address"]
    etcd = lab_json(lab)["etcd_members"][0]["daemon"]["address"]
    worker, worker2 = lab_json(lab)["nodes"][1:]

    assert "cut worker2 off" in lab.ok("node", "cut", "worker2")
    assert [node["cut"] for node in lab_json(lab)["nodes"]] == [False, False, True]
    assert "worker2  172.18.0.4" in lab.ok("show") and "CUT OFF" in lab.ok("show")
    assert [n["cut"] for n in json.loads(lab.ok("show", "--json"))["nodes"]] == [
        False,
        False,
        True,
    ]
    assert not reaches(worker2["netns"], ipamd) and not reaches(worker2["netns"], etcd)
    assert reaches(worker["netns"], ipamd)
    assert "2/2 pairs reachable" in lab.ok("ping")  # pod traffic between the workers

    refused = lab.run("node", "cut", "control-plane")
    assert refused.returncode == 1 and "cut off a worker" in refused.stderr

    assert "healed worker2" in lab.ok("node", "heal", "worker2")
    assert not lab_json(lab)["nodes"][2]["cut"] and not has_cut_table(worker2["netns"])
    assert reaches(worker2["netns"], ipamd)
    assert "was not cut off" in lab.ok("node", "heal", "worker2")

    # down heals a cut node before it deletes the pods, so their DELs release addresses.
    lab.ok("node", "cut", "worker2")
    down = lab.ok("down")
    assert "healed worker2" in down
    assert all(f"pod {pod} deleted" in down for pod in ("webserver-1", "webserver-2")), down
    assert "could not be deleted" not in down
