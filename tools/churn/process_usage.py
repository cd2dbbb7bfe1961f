"""CPU seconds and peak RSS of a running process, from /proc."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ProcessUsage:
    cpu_seconds: float  # user + system, including waited-for children
    peak_rss_kib: int  # VmHWM
    rss_kib: int  # VmRSS


def read_usage(pid: int, program: str = "") -> ProcessUsage | None:
    """None when the process is gone (or its cmdline no longer names program)."""
    proc = Path("/proc") / str(pid)
    try:
        if program and program not in (proc / "cmdline").read_bytes().decode(errors="replace"):
            return None
        stat = (proc / "stat").read_text()
        status = (proc / "status").read_text()
    except OSError:
        return None
    # Fields after the parenthesised command name; utime is field 14 of stat(5).
    fields = stat[stat.rindex(")") + 2 :].split()
    ticks = sum(int(value) for value in fields[11:15])  # utime stime cutime cstime
    memory = {}
    for line in status.splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            memory[key] = int(value.split()[0])
    return ProcessUsage(ticks / _CLOCK_TICKS, memory.get("VmHWM", 0), memory.get("VmRSS", 0))
