"""What the agent's caller gate costs per CNI call, measured on a real agent (1-node lab).

The compiled shim calls one agent either on its public socket (through the caller
gate: SO_PEERCRED, the caller's root opened, bytes relayed, CNI_NETNS resolved with
openat2 inside the caller's root) or straight on the gRPC server's internal socket
(root only; CNI_NETNS opened in the agent's own view). The two take turns, call by
call, so drift on the machine hits both alike. Reports exec-to-exit p50/p95 of
STATUS (no kernel work) and of ADD and DEL.

    .venv/bin/python scripts/bench/caller_gate_cost.py [--pairs 100]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench_session import load_average, machine, running_lab

from netagent.server.internal_sockets import admitted_socket
from tools.churn.latency import LatencySummary


def shim_call(
    shim: Path, command: str, container_id: str, netns: str, config: dict[str, Any], bin_dir: str
) -> float:
    env = {
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": container_id,
        "CNI_NETNS": netns,
        "CNI_IFNAME": "eth0",
        "CNI_ARGS": "",
        "CNI_PATH": bin_dir,
    }
    started = time.perf_counter()
    done = subprocess.run([str(shim)], input=json.dumps(config).encode(), env=env, check=False,
                          capture_output=True)  # fmt: skip
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{command} {container_id}: {done.stdout!r} {done.stderr!r}")
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=100, help="calls of each kind per path")
    args = parser.parse_args()
    samples: dict[str, list[float]] = defaultdict(list)
    with running_lab(nodes=1) as lab:
        document = json.loads((lab.state_dir / "lab.json").read_text())
        node = document["nodes"][0]
        bin_dir = document["cni_bin_dir"]
        shim = Path(bin_dir) / "podnet"
        conflist = json.loads(Path(node["conflist"]).read_text())
        # 1.1.0: the version that allows STATUS (the conflist lists it in cniVersions).
        base = {**conflist["plugins"][0], "cniVersion": "1.1.0", "name": conflist["name"]}
        public = Path(node["agent_socket"])
        paths = {"via caller gate": public, "direct (internal socket)": admitted_socket(public)}
        pods = {label: f"{lab.prefix}gate{index}" for index, label in enumerate(paths)}
        for pod in pods.values():
            subprocess.run(["ip", "netns", "add", pod], check=True)
        try:
            for number in range(args.pairs):
                for label, socket_path in paths.items():
                    config = {**base, "agentSocket": str(socket_path)}
                    netns = f"/run/netns/{pods[label]}"
                    cid = f"gate-{number}-{pods[label]}"
                    samples[f"STATUS {label}"].append(
                        shim_call(shim, "STATUS", "", "", config, bin_dir)
                    )
                    samples[f"ADD {label}"].append(
                        shim_call(shim, "ADD", cid, netns, config, bin_dir)
                    )
                    samples[f"DEL {label}"].append(
                        shim_call(shim, "DEL", cid, netns, config, bin_dir)
                    )
        finally:
            for pod in pods.values():
                subprocess.run(["ip", "netns", "delete", pod], check=False)
    print(f"machine: {machine()}; {args.pairs} calls of each; load average {load_average()}")
    print("| call | path | p50 ms | p95 ms |")
    print("|---|---|---:|---:|")
    for key, values in samples.items():
        verb, label = key.split(" ", 1)
        summary = LatencySummary.of(values)
        print(f"| {verb} | {label} | {summary.p50_ms:.2f} | {summary.p95_ms:.2f} |")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
