"""What the ipamd benchmarks share: a throw-away etcd and real podnet-ipamd processes on
loopback, closed-loop load at a fixed concurrency, percentiles and process memory.

Everything started here is stopped by BenchLab.close(), also when a benchmark fails.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

from podnet.v1 import ipam_pb2, ipam_pb2_grpc

from ipamd.config import EtcdAddress
from ipamd.etcd_connection import EtcdChannel, EtcdConnection
from podnetctl.etcd_access import EtcdAccess
from tools.lab.etcd_server import EtcdServer
from tools.lab.ipamd_callers import IpamdCallers
from tools.lab.pki import IPAMD_ETCD_USER, LabPki
from tools.lab.ports import free_port
from tools.lab.processes import spawn, stop, wait_until

REPO = Path(__file__).resolve().parents[2]
IPAMD = shutil.which("podnet-ipamd") or str(REPO / ".venv/bin/podnet-ipamd")
CALL_TIMEOUT = 30.0
IPAMD_PREFIX = "/podnet-bench"
PLAINTEXT_PREFIX = "/podnet-bench-plaintext"  # a plaintext ipamd's, beside a TLS one
# Where the benchmarks' own raw etcd transactions write, as ipamd's etcd identity.
RAW_PREFIX = "/podnet-bench-raw"


@dataclass(frozen=True)
class MemorySample:
    rss_kib: int
    hwm_kib: int

    def __str__(self) -> str:
        return f"RSS {self.rss_kib / 1024:.1f} MiB (peak {self.hwm_kib / 1024:.1f} MiB)"


def memory_of(pid: int) -> MemorySample:
    """VmRSS and VmHWM (peak RSS) of a process, from /proc/<pid>/status."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0])
    return MemorySample(fields["VmRSS"], fields["VmHWM"])


def cpu_seconds_of(pid: int) -> float:
    """User + system CPU time a process has used so far."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    after_name = stat[stat.rindex(")") + 2 :].split()
    return (int(after_name[11]) + int(after_name[12])) / os.sysconf("SC_CLK_TCK")


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


@dataclass(frozen=True)
class RunResult:
    completed: int
    seconds: float
    latencies_ms: list[float]

    @property
    def rate(self) -> float:
        return self.completed / self.seconds

    @property
    def p50(self) -> float:
        return percentile(self.latencies_ms, 0.50)

    @property
    def p95(self) -> float:
        return percentile(self.latencies_ms, 0.95)


async def closed_loop(
    concurrency: int, seconds: float, operation: Callable[[int], Awaitable[object]]
) -> RunResult:
    """`concurrency` workers each call operation(n) with a fresh n, back to back, for
    `seconds`; returns how many completed and how long each took."""
    counter = iter(range(1 << 62))
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            await operation(next(counter))
            latencies.append((time.perf_counter() - started) * 1e3)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return RunResult(len(latencies), time.perf_counter() - started, latencies)


async def fixed_count(
    concurrency: int, count: int, operation: Callable[[int], Awaitable[object]]
) -> RunResult:
    """Calls operation(0..count-1) with `concurrency` in flight at most."""
    counter = iter(range(count))
    latencies: list[float] = []

    async def worker() -> None:
        for n in counter:
            started = time.perf_counter()
            await operation(n)
            latencies.append((time.perf_counter() - started) * 1e3)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return RunResult(len(latencies), time.perf_counter() - started, latencies)


@dataclass
class IpamdProcess:
    process: subprocess.Popen[bytes]
    address: str
    log_path: Path
    tls: bool = True  # mutual TLS (else --insecure-plaintext)

    @property
    def pid(self) -> int:
        return self.process.pid


@dataclass
class BenchLab:
    """A temp dir holding one etcd's data, its CA and every log; ipamd processes on top of
    it. etcd runs as the tests' does: TLS, client certificates, RBAC."""

    workdir: Path
    pki: LabPki
    etcd: EtcdServer
    ipamds: list[IpamdProcess] = field(default_factory=list)
    callers: list[IpamdCallers] = field(default_factory=list)

    @classmethod
    def start(cls) -> BenchLab:
        workdir = Path(tempfile.mkdtemp(prefix="podnet-bench-"))
        pki = LabPki(workdir / "pki")
        etcd = EtcdServer(
            workdir / "etcd" / "data",
            "127.0.0.1",
            free_port(),
            free_port(),
            tls=pki.etcd_member("bench", "127.0.0.1"),
        )
        lab = cls(workdir, pki, etcd)
        try:
            etcd.start()
            for prefix in (IPAMD_PREFIX, PLAINTEXT_PREFIX, RAW_PREFIX):
                etcd.enable_auth(pki.etcd_root(), EtcdAccess(prefix, IPAMD_ETCD_USER))
        except BaseException:
            lab.close()
            raise
        return lab

    def start_ipamd(
        self, *flags: str, prefix: str = IPAMD_PREFIX, tls: bool = True
    ) -> IpamdProcess:
        """An ipamd serving mutual TLS with the lab's CA (tls False: plaintext)."""
        address = f"127.0.0.1:{free_port()}"
        serving = self.pki.ipamd_tls_flags(["127.0.0.1"]) if tls else ["--insecure-plaintext"]
        argv = [
            IPAMD,
            "--listen",
            address,
            "--http-host",
            "127.0.0.1",
            "--http-port",
            "0",
            *serving,
            "--etcd",
            self.etcd.endpoint.address,
            *self.pki.ipamd_etcd_flags(),
            "--etcd-prefix",
            prefix,
            *flags,
        ]
        started = self._start(argv, address, "ipamd")
        started.tls = tls
        return started

    @contextlib.asynccontextmanager
    async def etcd_client(self) -> AsyncIterator[EtcdChannel]:
        """Raw etcd stubs, as ipamd's etcd identity (so it may write under RAW_PREFIX)."""
        endpoint = EtcdAddress(self.etcd.endpoint.host, self.etcd.endpoint.client_port)
        connection = EtcdConnection([endpoint], CALL_TIMEOUT, tls=self.pki.ipamd_etcd_client())
        try:
            yield await connection.client_for(endpoint)
        finally:
            await connection.close()

    def start_noop_server(self) -> IpamdProcess:
        """The do-nothing gRPC allocator of ipamd_noop_server.py."""
        address = f"127.0.0.1:{free_port()}"
        argv = [sys.executable, str(Path(__file__).with_name("ipamd_noop_server.py")), address]
        started = self._start(argv, address, "noop")
        started.tls = False  # a ceiling for Python gRPC itself: plaintext, no guard
        return started

    def _start(self, argv: list[str], address: str, name: str) -> IpamdProcess:
        log_path = self.workdir / f"{name}-{len(self.ipamds)}.log"
        started = IpamdProcess(spawn(argv, log_path), address, log_path)
        self.ipamds.append(started)

        def serving() -> bool:
            return any(
                json.loads(line).get("event") == "serving"
                for line in log_path.read_text(errors="replace").splitlines()
                if line.startswith("{")
            )

        wait_until(serving, 30.0, f"{name} serving", started.process, log_path)
        return started

    def stub(self, ipamd: IpamdProcess) -> ipam_pb2_grpc.IpamAsyncStub:
        """Each call presents the certificate of the node its request names, as that
        node's agent would (tools.lab.ipamd_callers); plaintext to a plaintext ipamd."""
        callers = IpamdCallers(ipamd.address, self.pki if ipamd.tls else None)
        self.callers.append(callers)
        return callers.as_each_node()

    async def close_channels(self) -> None:
        for callers in self.callers:
            await callers.close()
        self.callers.clear()

    def close(self) -> None:
        for ipamd in self.ipamds:
            stop(ipamd.process)
        self.ipamds.clear()
        self.etcd.stop()
        with contextlib.suppress(OSError):
            shutil.rmtree(self.workdir)


async def acquire(
    stub: ipam_pb2_grpc.IpamAsyncStub, node: str, node_ip: str = "192.0.2.10"
) -> ipam_pb2.NodeRange:
    return await stub.AcquireNodeRange(
        ipam_pb2.AcquireNodeRangeRequest(node=node, node_ip=node_ip), timeout=CALL_TIMEOUT
    )


def allocation_request(
    node_range: ipam_pb2.NodeRange, container_id: str, ifname: str = "eth0"
) -> ipam_pb2.AllocatePodIpRequest:
    return ipam_pb2.AllocatePodIpRequest(
        node=node_range.node,
        cidr=node_range.cidr,
        container_id=container_id,
        ifname=ifname,
        pod=ipam_pb2.PodRef(
            k8s_namespace="bench", k8s_name=f"pod-{container_id}", k8s_uid=f"uid-{container_id}"
        ),
    )
