"""Starting, waiting for and stopping the daemons tests and the lab run."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from tools.lab.netns import in_netns


def spawn(
    argv: Sequence[str],
    log_path: Path,
    netns: str | None = None,
    env: Mapping[str, str] | None = None,
) -> subprocess.Popen[bytes]:
    """Starts argv (inside netns if given) with stdout+stderr appended to log_path."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        return subprocess.Popen(
            in_netns(netns, argv),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )


def stop(process: subprocess.Popen[bytes], timeout: float = 10.0) -> int:
    """SIGTERM, then SIGKILL after timeout. Returns the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


def kill_pid(pid: int, sig: int = signal.SIGTERM) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def wait_until(
    condition: Callable[[], bool],
    timeout: float,
    what: str,
    process: subprocess.Popen[bytes] | None = None,
    log_path: Path | None = None,
) -> None:
    """Polls condition until true; fails early if process dies, quoting its log."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if process is not None and process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-3000:] if log_path else ""
            raise RuntimeError(f"{what}: process exited with {process.returncode}\n{tail}")
        time.sleep(0.05)
    tail = log_path.read_text(errors="replace")[-3000:] if log_path else ""
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}\n{tail}")


def tcp_open(host: str, port: int, netns: str | None = None) -> bool:
    if netns is None:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            return False
    try:
        probe = subprocess.run(
            in_netns(netns, ["bash", "-c", f"exec 3<>/dev/tcp/{host}/{port}"]),
            capture_output=True,
            check=False,
            timeout=2.0,  # a dropped SYN is retried for minutes
        )
    except subprocess.TimeoutExpired:
        return False
    return probe.returncode == 0
