"""Starts the real podnet-ipamd executable against the session's etcd, one key prefix per
test, and hands out async gRPC stubs to it."""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import subprocess
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from podnet.tls.files import TlsFiles
from podnet.v1 import ipam_pb2, ipam_pb2_grpc

from ipamd.config import EtcdAddress
from ipamd.etcd_connection import EtcdConnection
from tools.lab.etcd_server import EtcdEndpoint
from tools.lab.ports import free_port
from tools.lab.processes import spawn, stop, wait_until

IPAMD = shutil.which("podnet-ipamd") or str(Path(__file__).parents[2] / ".venv/bin/podnet-ipamd")


def http_get(url: str, timeout: float = 2.0) -> tuple[int, str]:
    """(status, body) of a GET; status 0 when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as reply:
            return reply.status, reply.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError:
        return 0, ""


@dataclass
class Ipamd:
    process: subprocess.Popen[bytes]
    address: str
    log_path: Path
    http_address: str
    channels: list[grpc.aio.Channel] = field(default_factory=list)

    def channel(self) -> grpc.aio.Channel:
        channel = grpc.aio.insecure_channel(self.address)
        self.channels.append(channel)
        return channel

    def stub(self) -> ipam_pb2_grpc.IpamAsyncStub:
        return ipam_pb2_grpc.IpamStub(self.channel())

    def http(self, path: str) -> tuple[int, str]:
        return http_get(f"http://{self.http_address}{path}")

    def log_events(self) -> list[dict[str, object]]:
        events = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                events.append(json.loads(line))
        return events

    async def stop(self) -> int:
        for channel in self.channels:
            await channel.close(None)
        self.channels.clear()
        return await asyncio.to_thread(stop, self.process)


class IpamdFactory:
    def __init__(self, etcd: EtcdEndpoint, etcd_tls: TlsFiles, prefix: str, log_dir: Path) -> None:
        self.etcd = etcd
        self.etcd_tls = etcd_tls
        self.prefix = prefix
        self.log_dir = log_dir
        self.started: list[Ipamd] = []

    @contextlib.asynccontextmanager
    async def etcd_connection(self) -> AsyncIterator[EtcdConnection]:
        """A connection to etcd as ipamd's own identity, to look at what it stored."""
        address = EtcdAddress(self.etcd.host, self.etcd.client_port)
        connection = EtcdConnection([address], timeout=5.0, tls=self.etcd_tls)
        try:
            yield connection
        finally:
            await connection.close()

    def argv(self, listen: str, *flags: str, tls: bool = True, http_port: int = 0) -> list[str]:
        """The command line of an ipamd on listen; without tls, no etcd TLS flags."""
        etcd_tls = [
            "--etcd-ca", str(self.etcd_tls.ca),
            "--etcd-cert", str(self.etcd_tls.cert),
            "--etcd-key", str(self.etcd_tls.key),
        ]  # fmt: skip
        return [
            IPAMD,
            "--listen",
            listen,
            "--http-host",
            "127.0.0.1",
            "--http-port",
            str(http_port),
            "--etcd",
            self.etcd.address,
            *(etcd_tls if tls else []),
            "--etcd-prefix",
            self.prefix,
            "--log-level",
            "DEBUG",
            *flags,
        ]

    async def start(self, *flags: str, etcd: str | None = None, tls: bool = True) -> Ipamd:
        address = f"127.0.0.1:{free_port()}"
        http_address = f"127.0.0.1:{free_port()}"
        argv = self.argv(address, *flags, tls=tls, http_port=int(http_address.rpartition(":")[2]))
        if etcd is not None:
            argv[argv.index("--etcd") + 1] = etcd
        log_path = self.log_dir / f"ipamd-{len(self.started)}.log"
        process = spawn(argv, log_path)
        ipamd = Ipamd(process, address, log_path, http_address)
        self.started.append(ipamd)

        def ready() -> bool:
            return ipamd.http("/readyz")[0] == 200

        await asyncio.to_thread(wait_until, ready, 20.0, "ipamd ready", process, log_path)
        return ipamd


@pytest.fixture
async def ipamd_factory(
    etcd: EtcdEndpoint, etcd_client_tls: TlsFiles, etcd_prefix: str, tmp_path: Path
) -> AsyncIterator[IpamdFactory]:
    factory = IpamdFactory(etcd, etcd_client_tls, etcd_prefix, tmp_path)
    yield factory
    for ipamd in factory.started:
        await ipamd.stop()


@pytest.fixture
async def ipamd(ipamd_factory: IpamdFactory) -> Ipamd:
    return await ipamd_factory.start()


async def etcd_get(connection: EtcdConnection, key: str) -> Any:
    """The KeyValue at key, None if there is none."""
    reply = await connection.range(key.encode())
    return reply.kvs[0] if reply.kvs else None


def pod(name: str) -> ipam_pb2.PodRef:
    return ipam_pb2.PodRef(k8s_namespace="default", k8s_name=name, k8s_uid=f"uid-{name}")


async def acquire(
    stub: ipam_pb2_grpc.IpamAsyncStub, node: str, node_ip: str = "192.0.2.10"
) -> ipam_pb2.NodeRange:
    return await stub.AcquireNodeRange(
        ipam_pb2.AcquireNodeRangeRequest(node=node, node_ip=node_ip), timeout=10
    )


async def allocate(
    stub: ipam_pb2_grpc.IpamAsyncStub,
    node_range: ipam_pb2.NodeRange,
    container_id: str,
    ifname: str = "eth0",
) -> ipam_pb2.PodIpAllocation:
    return await stub.AllocatePodIp(
        ipam_pb2.AllocatePodIpRequest(
            node=node_range.node,
            cidr=node_range.cidr,
            container_id=container_id,
            ifname=ifname,
            pod=pod(container_id),
        ),
        timeout=10,
    )


async def rpc_error(call: Awaitable[object]) -> grpc.aio.AioRpcError:
    """Awaits a call expected to fail and returns its error."""
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await call
    return failure.value


async def next_event(call: Any, within: float = 10.0) -> ipam_pb2.NodeRangeEvent:
    """The next event of a WatchNodeRanges stream, failing after `within` seconds."""
    event: ipam_pb2.NodeRangeEvent = await asyncio.wait_for(call.read(), within)
    return event
