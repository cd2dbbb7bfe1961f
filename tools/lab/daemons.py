"""Command lines of podnet's daemons, starting them detached, and stopping them by PID."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import sys
import time
from pathlib import Path

from podnet.tls.files import TlsFiles

from tools.lab.errors import LabStartError
from tools.lab.layout import NodePaths
from tools.lab.options import DaemonOptions as DaemonOptions
from tools.lab.processes import kill_pid, spawn
from tools.lab.state import DaemonRecord


def program_path(name: str) -> str:
    """An executable installed beside this interpreter (the venv), else from PATH."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise LabStartError(f"{name} is not installed (looked beside {sys.executable} and in PATH)")
    return found


ETCD_PREFIX = "/podnet"


def server_tls_flags(tls: TlsFiles, opts: DaemonOptions) -> list[str]:
    if opts.insecure_plaintext:
        return ["--insecure-plaintext"]
    return ["--tls-cert", str(tls.cert), "--tls-key", str(tls.key), "--tls-client-ca", str(tls.ca)]


def client_tls_flags(tls: TlsFiles, opts: DaemonOptions) -> list[str]:
    if opts.insecure_plaintext:
        return ["--insecure-plaintext"]
    return ["--tls-cert", str(tls.cert), "--tls-key", str(tls.key), "--tls-ca", str(tls.ca)]


def ipamd_argv(
    listen: str,
    http_listen: str,
    etcd_address: str,
    etcd_tls: TlsFiles,
    server_tls: TlsFiles,
    cluster_cidr: str,
    node_prefix_length: int,
    opts: DaemonOptions,
) -> list[str]:
    http_host, _, http_port = http_listen.rpartition(":")
    return [
        program_path("podnet-ipamd"),
        "--listen", listen,
        "--http-host", http_host,
        "--http-port", http_port,
        *server_tls_flags(server_tls, opts),
        "--etcd", etcd_address,
        "--etcd-ca", str(etcd_tls.ca),
        "--etcd-cert", str(etcd_tls.cert),
        "--etcd-key", str(etcd_tls.key),
        "--etcd-prefix", ETCD_PREFIX,
        "--cluster-cidr", cluster_cidr,
        "--node-prefix-length", str(node_prefix_length),
        "--node-lease-ttl", str(opts.node_lease_ttl),
        "--quarantine", str(opts.quarantine),
        "--log-level", opts.log_level,
    ]  # fmt: skip


def agent_argv(
    node_name: str,
    node_ip: str,
    ipamd_address: str,
    paths: NodePaths,
    http_listen: str,
    opts: DaemonOptions,
    tls: TlsFiles,
    admin_listen: str,
) -> list[str]:
    argv = [
        program_path("podnet-agent"),
        "--node-name", node_name,
        "--node-ip", node_ip,
        "--ipamd", ipamd_address,
        *client_tls_flags(tls, opts),
        "--socket", str(paths.agent_socket),
        "--spool-dir", str(paths.spool_dir),
        "--cni-conf-dir", str(paths.conf_dir),
        "--cni-conf-file", paths.conflist.name,
        "--http-listen", http_listen,
        "--admin-listen", "off" if opts.insecure_plaintext else admin_listen,
        "--remove-conf-on-exit",
    ]  # fmt: skip
    if opts.mtu is not None:
        argv += ["--mtu", str(opts.mtu)]
    return [*argv, "--log-level", opts.log_level]


def start_daemon(
    program: str, argv: list[str], log: Path, netns: str, address: str
) -> DaemonRecord:
    """Starts argv inside netns in its own session, so it outlives the CLI."""
    process = spawn(argv, log, netns=netns)
    return DaemonRecord(program, netns, address, process.pid, str(log))


def _is_ours(record: DaemonRecord) -> bool:
    """Guards against PID reuse: the pid must still run the recorded program."""
    try:
        cmdline = Path(f"/proc/{record.pid}/cmdline").read_bytes()
        state = Path(f"/proc/{record.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    if state == "Z":
        return False
    # cmdline reads empty while the process is inside execve (ip netns exec -> daemon).
    return not cmdline or record.program.encode() in cmdline


def daemon_alive(record: DaemonRecord) -> bool:
    _reap(record.pid)
    return _is_ours(record)


def _reap(pid: int) -> None:
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def stop_daemon(record: DaemonRecord, grace: float = 5.0) -> bool:
    """SIGTERM, then SIGKILL after grace seconds. False if it was not running."""
    if not daemon_alive(record):
        return False
    kill_pid(record.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not daemon_alive(record):
            return True
        time.sleep(0.05)
    kill_pid(record.pid, signal.SIGKILL)
    deadline = time.monotonic() + grace
    while daemon_alive(record) and time.monotonic() < deadline:
        time.sleep(0.02)
    return True


def kill_now(record: DaemonRecord, timeout: float = 5.0) -> None:
    """SIGKILL (a crash, no shutdown path) and wait until it is gone."""
    kill_pid(record.pid, signal.SIGKILL)
    deadline = time.monotonic() + timeout
    while daemon_alive(record) and time.monotonic() < deadline:
        time.sleep(0.02)
