"""Network namespace primitives for tests and the lab, on top of iproute2.

Everything podnet's tests and lab build lives in named namespaces that carry a
caller-chosen prefix, so cleanup can find it again even after a crash.
"""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from pathlib import Path

NETNS_DIR = Path("/run/netns")


def run_ip(*args: str, netns: str | None = None, check: bool = True) -> str:
    argv = ["ip", *(("-n", netns) if netns else ()), *args]
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip()}")
    return done.stdout


def create_netns(name: str, loopback_up: bool = True) -> Path:
    run_ip("netns", "add", name)
    if loopback_up:
        run_ip("link", "set", "lo", "up", netns=name)
    return NETNS_DIR / name


def delete_netns(name: str) -> None:
    run_ip("netns", "delete", name, check=False)


def list_netns(prefix: str = "") -> list[str]:
    if not NETNS_DIR.is_dir():
        return []
    return sorted(p.name for p in NETNS_DIR.iterdir() if p.name.startswith(prefix))


def delete_netns_with_prefix(prefix: str) -> list[str]:
    removed = list_netns(prefix)
    for name in removed:
        delete_netns(name)
    return removed


def pids_in_netns(name: str) -> list[int]:
    """PIDs of the processes running inside namespace name."""
    done = subprocess.run(
        ["ip", "netns", "pids", name], capture_output=True, text=True, check=False, timeout=10
    )
    return [int(word) for word in done.stdout.split() if word.isdigit()]


def in_netns(netns: str | None, argv: Sequence[str]) -> list[str]:
    """argv wrapped to run inside netns (unchanged for None)."""
    return ["ip", "netns", "exec", netns, *argv] if netns else list(argv)
