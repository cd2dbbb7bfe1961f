"""A start-up step that fails undoes the steps before it: no port left bound, no task left
running, the etcd connection closed; the executable says why in one line and exits."""

from __future__ import annotations

import asyncio
import ipaddress
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from podnet.tls.paths import TlsFiles

from ipamd.config import ClusterConfig, EtcdAddress, IpamConfig
from ipamd.errors import ConfigError, ConfigMismatch
from ipamd.server import serve
from tests.ipamd.conftest import IPAMD, IpamdFactory
from tests.log_schema import schema_errors
from tools.lab.etcd_server import EtcdEndpoint
from tools.lab.ports import free_port


def config_for(
    etcd: str,
    prefix: str,
    grpc_port: int,
    http_port: int,
    cidr: str = "10.50.0.0/16",
    *,
    etcd_tls: TlsFiles | None,
) -> IpamConfig:
    host, _, port = etcd.rpartition(":")
    return IpamConfig(
        listen=f"127.0.0.1:{grpc_port}",
        etcd_endpoints=(EtcdAddress(host, int(port)),),
        etcd_prefix=prefix,
        cluster=ClusterConfig(ipaddress.IPv4Network(cidr), 24),
        node_lease_ttl=15,
        quarantine_seconds=60,
        etcd_timeout=1.0,
        http_host="127.0.0.1",
        http_port=http_port,
        etcd_tls=etcd_tls,
    )


def nothing_listens_on(port: int) -> bool:
    """True when a listening socket can take the port (SO_REUSEADDR: only another
    listener would stand in the way, not connections still in TIME_WAIT)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
            probe.listen()
        except OSError:
            return False
    return True


@contextmanager
def port_taken() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


async def tasks_left() -> set[asyncio.Task[object]]:
    """Tasks still pending besides the test's, after gRPC's own per-call tasks settled."""
    for _ in range(40):
        left = {task for task in asyncio.all_tasks() if task is not asyncio.current_task()}
        if not left:
            break
        await asyncio.sleep(0.05)
    return left


async def test_http_port_taken_fails_before_anything_else_starts(
    etcd: EtcdEndpoint, etcd_prefix: str, etcd_client_tls: TlsFiles
) -> None:
    grpc_port = free_port()
    with (
        port_taken() as http_port,
        pytest.raises(ConfigError, match=f"cannot serve HTTP on 127.0.0.1:{http_port}"),
    ):
        await serve(
            config_for(etcd.address, etcd_prefix, grpc_port, http_port, etcd_tls=etcd_client_tls),
            asyncio.Event(),
        )
    assert nothing_listens_on(grpc_port)
    assert await tasks_left() == set()


async def test_grpc_port_taken_undoes_http_tasks_and_etcd(
    etcd: EtcdEndpoint, etcd_prefix: str, etcd_client_tls: TlsFiles
) -> None:
    http_port = free_port()
    with (
        port_taken() as grpc_port,
        pytest.raises(ConfigError, match=f"cannot listen on 127.0.0.1:{grpc_port}"),
    ):
        await serve(
            config_for(etcd.address, etcd_prefix, grpc_port, http_port, etcd_tls=etcd_client_tls),
            asyncio.Event(),
        )
    assert nothing_listens_on(http_port)
    assert await tasks_left() == set()  # index mirrors and reclaimer cancelled


async def test_failure_after_serving_stops_grpc_and_http(
    etcd: EtcdEndpoint, etcd_prefix: str, etcd_client_tls: TlsFiles
) -> None:
    grpc_port, http_port = free_port(), free_port()

    async def fail(address: str) -> None:
        assert not nothing_listens_on(grpc_port) and not nothing_listens_on(http_port)
        raise RuntimeError(f"told to fail once serving on {address}")

    config = config_for(etcd.address, etcd_prefix, grpc_port, http_port, etcd_tls=etcd_client_tls)
    with pytest.raises(RuntimeError, match="told to fail"):
        await serve(config, asyncio.Event(), on_serving=fail)
    assert nothing_listens_on(grpc_port) and nothing_listens_on(http_port)
    assert await tasks_left() == set()


async def test_config_mismatch_in_etcd_undoes_http(
    etcd: EtcdEndpoint, etcd_prefix: str, etcd_client_tls: TlsFiles
) -> None:
    stop = asyncio.Event()

    async def stop_at_once(_: str) -> None:
        stop.set()

    await serve(
        config_for(etcd.address, etcd_prefix, 0, 0, etcd_tls=etcd_client_tls),
        stop,
        on_serving=stop_at_once,
    )
    http_port = free_port()
    other = config_for(
        etcd.address,
        etcd_prefix,
        free_port(),
        http_port,
        cidr="10.51.0.0/16",
        etcd_tls=etcd_client_tls,
    )
    with pytest.raises(ConfigMismatch):
        await serve(other, asyncio.Event())
    assert nothing_listens_on(http_port)
    assert await tasks_left() == set()


async def test_stop_while_etcd_is_unreachable_ends_the_wait_cleanly(etcd_prefix: str) -> None:
    grpc_port, http_port = free_port(), free_port()
    stop = asyncio.Event()
    config = config_for(
        f"127.0.0.1:{free_port()}", etcd_prefix, grpc_port, http_port, etcd_tls=None
    )
    running = asyncio.create_task(serve(config, stop))
    await asyncio.sleep(1.0)
    assert not running.done() and not nothing_listens_on(http_port)  # /healthz answers
    stop.set()
    await asyncio.wait_for(running, 5)
    assert nothing_listens_on(http_port) and nothing_listens_on(grpc_port)
    assert await tasks_left() == set()


def run_failing(argv: list[str], log: Path) -> tuple[int, list[str]]:
    with log.open("wb") as out:
        done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, timeout=30, check=False)
    return done.returncode, log.read_text().splitlines()


def assert_one_error_line(lines: list[str], expected: str) -> None:
    """The last line says why; every other line is a schema-valid log line; no traceback,
    no warning about a task or a connection left behind."""
    *logged, last = lines
    assert last.startswith("podnet-ipamd: error: ") and expected in last, lines
    for line in logged:
        assert schema_errors(line) == [], line
    text = "\n".join(lines)
    for leak in ("Traceback", "Task was destroyed", "Unclosed", "Exception ignored"):
        assert leak not in text, text


@pytest.mark.parametrize("taken", ["http", "grpc"])
def test_executable_exits_with_one_line_when_a_port_is_taken(
    ipamd_factory: IpamdFactory, tmp_path: Path, taken: str
) -> None:
    with port_taken() as busy:
        grpc_port = busy if taken == "grpc" else free_port()
        http_port = busy if taken == "http" else free_port()
        argv = ipamd_factory.argv(f"127.0.0.1:{grpc_port}", http_port=http_port)
        code, lines = run_failing(argv, tmp_path / "ipamd.log")
    assert code == 2
    expected = (
        f"cannot serve HTTP on 127.0.0.1:{http_port}: Address already in use"
        if taken == "http"
        else f"cannot listen on 127.0.0.1:{grpc_port}"
    )
    assert_one_error_line(lines, expected)


def test_executable_waiting_for_etcd_stops_on_sigterm(tmp_path: Path) -> None:
    http_port = free_port()
    argv = [
        IPAMD, "--listen", f"127.0.0.1:{free_port()}", "--etcd", f"127.0.0.1:{free_port()}",
        "--http-host", "127.0.0.1", "--http-port", str(http_port), "--etcd-timeout", "0.5",
        "--etcd-insecure-plaintext", "--insecure-plaintext",
    ]  # fmt: skip
    log = tmp_path / "ipamd.log"
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        while nothing_listens_on(http_port):
            assert time.monotonic() < deadline and process.poll() is None, log.read_text()
            time.sleep(0.05)
        time.sleep(1.0)  # a few failed attempts
        process.send_signal(signal.SIGTERM)
        assert process.wait(5) == 0
    finally:
        process.kill()
        process.wait()
    lines = log.read_text().splitlines()
    assert all(schema_errors(line) == [] for line in lines), lines
    events = [line for line in lines if '"etcd_unavailable_at_start"' in line]
    assert events and '"traceback"' in events[0]
    assert nothing_listens_on(http_port)
