"""Running the workload: C workers, each cycling pods until the count or duration is reached."""

from __future__ import annotations

import resource
import shutil
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from tools.churn.pod_cycle import CycleRecord, PodSpec, run_cycle
from tools.churn.process_usage import ProcessUsage, read_usage
from tools.churn.progress import ProgressLine
from tools.churn.targets import Target
from tools.cniexec import CniRuntime, RuntimeSettings

HOST_PORT_SPAN = 20000


@dataclass(frozen=True)
class Workload:
    concurrency: int = 8
    count: int | None = None  # stop after this many pods ...
    duration: float | None = None  # ... or after this many seconds (whichever comes first)
    host_port: bool = False
    check: bool = False
    first_host_port: int = 30000
    plugin_timeout: float = 30.0


@dataclass(frozen=True)
class DaemonUsage:
    name: str
    pid: int
    before: ProcessUsage | None
    after: ProcessUsage | None

    @property
    def cpu_seconds(self) -> float | None:
        if self.before is None or self.after is None:
            return None
        return self.after.cpu_seconds - self.before.cpu_seconds


@dataclass(frozen=True)
class ChurnOutcome:
    target: Target
    workload: Workload
    records: tuple[CycleRecord, ...]
    wall_seconds: float
    daemons: tuple[DaemonUsage, ...]
    plugin_cpu_seconds: float  # every process the run started (plugins, ip netns ...)


class PodScheduler:
    """Hands out pods round-robin over the nodes until the workload is complete."""

    def __init__(self, target: Target, workload: Workload) -> None:
        self._target = target
        self._workload = workload
        self._lock = threading.Lock()
        self._next = 0
        self._deadline = (
            time.monotonic() + workload.duration if workload.duration is not None else None
        )

    def next_pod(self) -> PodSpec | None:
        with self._lock:
            index = self._next
            if self._workload.count is not None and index >= self._workload.count:
                return None
            if self._deadline is not None and time.monotonic() >= self._deadline:
                return None
            self._next += 1
        node = self._target.nodes[index % len(self._target.nodes)]
        host_port = (
            self._workload.first_host_port + index % HOST_PORT_SPAN
            if self._workload.host_port
            else None
        )
        return PodSpec(
            index=index,
            node=node,
            netns=f"{self._target.pod_netns_prefix}{index}",
            host_port=host_port,
            check=self._workload.check,
        )


def _children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_churn(
    target: Target,
    workload: Workload,
    progress_stream: TextIO | None = None,
) -> ChurnOutcome:
    """Runs the workload; per-pod failures are recorded, never raised."""
    if workload.count is None and workload.duration is None:
        raise ValueError("a workload needs a count or a duration")
    cache_dir = Path(tempfile.mkdtemp(prefix="podnet-churn-cache-"))
    runtimes = {
        node.netns: CniRuntime(
            RuntimeSettings(node.bin_dirs, cache_dir, node.netns, workload.plugin_timeout)
        )
        for node in target.nodes
    }
    scheduler = PodScheduler(target, workload)
    records: list[CycleRecord] = []
    lock = threading.Lock()

    def snapshot() -> tuple[int, int]:
        with lock:
            return len(records), sum(1 for record in records if not record.ok)

    def worker() -> None:
        while (spec := scheduler.next_pod()) is not None:
            record = run_cycle(runtimes[spec.node.netns], spec)
            with lock:
                records.append(record)

    progress = ProgressLine(snapshot, target.label, progress_stream) if progress_stream else None
    usage_before = {d.name: read_usage(d.pid, d.program) for d in target.daemons}
    children_before = _children_cpu_seconds()
    started = time.monotonic()
    threads = [
        threading.Thread(target=worker, name=f"churn-worker-{n}", daemon=True)
        for n in range(workload.concurrency)
    ]
    try:
        if progress:
            progress.start()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        if progress:
            progress.stop()
        shutil.rmtree(cache_dir, ignore_errors=True)
    wall = time.monotonic() - started
    daemons = tuple(
        DaemonUsage(d.name, d.pid, usage_before[d.name], read_usage(d.pid, d.program))
        for d in target.daemons
    )
    return ChurnOutcome(
        target=target,
        workload=workload,
        records=tuple(sorted(records, key=lambda record: record.index)),
        wall_seconds=wall,
        daemons=daemons,
        plugin_cpu_seconds=_children_cpu_seconds() - children_before,
    )
