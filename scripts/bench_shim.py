"""Shim exec-to-result latency and CPU: compiled shim (dynamic, static) vs Python launcher
vs grpcio.

Usage: .venv/bin/python scripts/bench_shim.py [runs]
Starts a stand-in CniAgent server on a temporary unix socket, installs the
shims (the compiled one, dynamically and statically linked, and the Python
launcher) into temporary CNI bin dirs,
and reports, over `runs` executions each, the median wall time from exec to
exit and the median CPU time (user + system, from os.wait4's rusage) of:
VERSION through each shim, an ADD round trip through each shim, the same
round trip made by a minimal grpcio client process (what a shim using grpcio
would cost), and a bare `python -IS -c pass`. The compiled shim's round trip is
also measured through the agent's caller gate (SO_PEERCRED check and relay, see
netagent/server/caller_gate.py) in front of the same stand-in, interleaved with
the direct one so drift hits both alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
from podnet.v1 import cni_pb2, cni_pb2_grpc

from cni_shim.install import install_native_shim, install_python_launcher
from netagent.server.caller_gate import CallerGate
from netagent.server.callers import CallerRegistry

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


def run_once(argv: list[str], env: dict[str, str], stdin: bytes) -> tuple[float, float]:
    """(wall seconds from exec to exit, CPU seconds of the child)."""
    started = time.perf_counter()
    process = subprocess.Popen(
        argv, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert process.stdin is not None and process.stdout is not None and process.stderr is not None
    # VERSION is answered without reading stdin, so the shim may be gone already.
    with contextlib.suppress(BrokenPipeError):
        process.stdin.write(stdin)
    with contextlib.suppress(BrokenPipeError):
        process.stdin.close()
    stdout = process.stdout.read()
    stderr = process.stderr.read()
    _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    process.returncode = os.waitstatus_to_exitcode(status)
    process.stdout.close()
    process.stderr.close()
    if process.returncode != 0:
        raise RuntimeError(f"{argv}: exit {process.returncode}: {stdout!r} {stderr!r}")
    return wall, usage.ru_utime + usage.ru_stime


def measure(argv: list[str], env: dict[str, str], stdin: bytes, runs: int) -> tuple[float, float]:
    """Median wall ms and median CPU ms over runs."""
    samples = [run_once(argv, env, stdin) for _ in range(runs)]
    return (
        statistics.median(wall for wall, _ in samples) * 1000,
        statistics.median(cpu for _, cpu in samples) * 1000,
    )


@contextlib.contextmanager
def caller_gate(public: Path, upstream: Path) -> Iterator[asyncio.AbstractEventLoop]:
    """The agent's caller gate on public, relaying root callers to upstream, run by the
    event loop (yielded) of a thread of its own."""
    loop = asyncio.new_event_loop()
    gate = CallerGate(CallerRegistry(), upstream, upstream, frozenset({0}))
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(gate.start(public), loop).result()
    try:
        yield loop
    finally:
        loop.call_soon_threadsafe(gate.close)
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


def gate_thread_cpu(loop: asyncio.AbstractEventLoop) -> float:
    """CPU seconds the thread running loop has used so far."""
    return asyncio.run_coroutine_threadsafe(_thread_time(), loop).result()


async def _thread_time() -> float:
    return time.thread_time()


def interleaved(
    variants: dict[str, tuple[list[str], dict[str, str], bytes]], runs: int
) -> dict[str, tuple[float, float]]:
    """Median wall ms and CPU ms of each variant, the variants taking turns."""
    samples: dict[str, list[tuple[float, float]]] = {label: [] for label in variants}
    for _ in range(runs):
        for label, (argv, env, stdin) in variants.items():
            samples[label].append(run_once(argv, env, stdin))
    return {
        label: (
            statistics.median(wall for wall, _ in values) * 1000,
            statistics.median(cpu for _, cpu in values) * 1000,
        )
        for label, values in samples.items()
    }


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 50
    with tempfile.TemporaryDirectory(prefix="pnbench-", dir="/tmp") as scratch:
        socket_path = Path(scratch) / "agent.sock"
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        cni_pb2_grpc.add_CniAgentServicer_to_server(FixedAgent(), server)
        server.add_insecure_port(f"unix:{socket_path}")
        server.start()
        try:
            shims = {
                "native": install_native_shim(Path(scratch) / "native"),
                "static": install_native_shim(Path(scratch) / "static", static=True),
                "python": install_python_launcher(Path(scratch) / "python"),
            }
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
            results: dict[str, tuple[float, float]] = {}
            for kind, shim in shims.items():
                results[f"{kind} shim VERSION"] = measure(
                    [str(shim)], {**cni, "CNI_COMMAND": "VERSION"}, b"{}", runs
                )
                results[f"{kind} shim ADD round trip"] = measure(
                    [str(shim)], {**cni, "CNI_COMMAND": "ADD"}, config, runs
                )
            gated_socket = Path(scratch) / "gated.sock"
            gated_config = json.dumps(
                {"cniVersion": "1.1.0", "name": "podnet", "type": "podnet",
                 "agentSocket": str(gated_socket)}
            ).encode()  # fmt: skip
            add = {**cni, "CNI_COMMAND": "ADD"}
            with caller_gate(gated_socket, socket_path) as gate_loop:
                cpu_before = gate_thread_cpu(gate_loop)
                results |= interleaved(
                    {
                        "native ADD, direct": ([str(shims["native"])], add, config),
                        "native ADD, via caller gate": ([str(shims["native"])], add, gated_config),
                    },
                    runs,
                )
                gate_cpu_ms = (gate_thread_cpu(gate_loop) - cpu_before) / runs * 1000
            results["grpcio client ADD round trip"] = measure(
                [sys.executable, str(client), str(socket_path)], dict(os.environ), config, runs
            )
            results["bare python -IS -c pass"] = measure(
                [sys.executable, "-IS", "-c", "pass"], {}, b"", runs
            )
        finally:
            server.stop(0)
    print(f"{'':32s} {'wall p50 ms':>11s} {'CPU p50 ms':>10s}   ({runs} runs each)")
    for label, (wall, cpu) in results.items():
        print(f"{label:32s} {wall:11.2f} {cpu:10.2f}")
    print(f"caller gate: {gate_cpu_ms:.3f} ms of agent CPU per call (the gate's thread)")


if __name__ == "__main__":
    main()
