"""Shim exec-to-result latency: the stdlib transport vs a grpcio client.

Usage: .venv/bin/python scripts/bench_shim.py [runs]
Starts a stand-in CniAgent server on a temporary unix socket, installs the
shim into a temporary CNI bin dir, and reports the median wall time of:
VERSION through the shim, an ADD round trip through the shim, and the same
round trip made by a minimal grpcio client process (what the shim would cost
if it used grpcio).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
from podnet.v1 import cni_pb2, cni_pb2_grpc

from cni_shim.install import install_shim

GRPCIO_CLIENT = """
import sys
import grpc
from podnet.v1 import cni_pb2, cni_pb2_grpc
with grpc.insecure_channel("unix:" + sys.argv[1]) as channel:
    outcome = cni_pb2_grpc.CniAgentStub(channel).Invoke(
        cni_pb2.CniInvocation(command="ADD", container_id="c1", ifname="eth0",
                              netns="/run/netns/p", config=sys.stdin.buffer.read()),
        timeout=30,
    )
sys.stdout.buffer.write(outcome.stdout)
sys.exit(outcome.exit_code)
"""


class FixedAgent(cni_pb2_grpc.CniAgentServicer):
    def Invoke(self, request: cni_pb2.CniInvocation, context: Any) -> cni_pb2.CniOutcome:
        return cni_pb2.CniOutcome(exit_code=0, stdout=b'{"cniVersion":"1.1.0"}')


def median_ms(argv: list[str], env: dict[str, str], stdin: bytes, runs: int) -> float:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(argv, env=env, input=stdin, capture_output=True, check=False)
        samples.append(time.perf_counter() - started)
        if done.returncode != 0:
            raise RuntimeError(f"{argv}: exit {done.returncode}: {done.stdout!r} {done.stderr!r}")
    return statistics.median(samples) * 1000


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    with tempfile.TemporaryDirectory(prefix="pnbench-", dir="/tmp") as scratch:
        socket_path = Path(scratch) / "agent.sock"
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        cni_pb2_grpc.add_CniAgentServicer_to_server(FixedAgent(), server)
        server.add_insecure_port(f"unix:{socket_path}")
        server.start()
        try:
            shim = install_shim(Path(scratch) / "bin")
            config = json.dumps(
                {"cniVersion": "1.1.0", "name": "podnet", "type": "podnet",
                 "agentSocket": str(socket_path)}
            ).encode()  # fmt: skip
            cni = {
                "CNI_CONTAINERID": "c1", "CNI_NETNS": "/run/netns/p", "CNI_IFNAME": "eth0",
                "CNI_ARGS": "", "CNI_PATH": "/opt/cni/bin",
            }  # fmt: skip
            client = Path(scratch) / "grpcio_client.py"
            client.write_text(GRPCIO_CLIENT)
            results = {
                "shim VERSION": median_ms(
                    [str(shim)], {**cni, "CNI_COMMAND": "VERSION"}, b"{}", runs
                ),
                "shim ADD round trip": median_ms(
                    [str(shim)], {**cni, "CNI_COMMAND": "ADD"}, config, runs
                ),
                "grpcio client ADD round trip": median_ms(
                    [sys.executable, str(client), str(socket_path)], dict(os.environ), config, runs
                ),
                "bare python -IS": median_ms([sys.executable, "-IS", "-c", "pass"], {}, b"", runs),
            }
        finally:
            server.stop(0)
    for label, value in results.items():
        print(f"{label:30s} median {value:6.1f} ms over {runs} runs")


if __name__ == "__main__":
    main()
