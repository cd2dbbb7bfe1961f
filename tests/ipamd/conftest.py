"""Starts the real podnet-ipamd executable against the session's etcd, one key prefix per
test, serving mutual TLS with the session's CA, and hands out async gRPC stubs to it that
present real certificates."""

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
from podnet.tls.identity import Role
from podnet.v1 import ipam_pb2, ipam_pb2_grpc

from ipamd.config import EtcdAddress
from ipamd.etcd_connection import EtcdConnection
from tools.lab.etcd_server import EtcdEndpoint
from tools.lab.ipamd_callers import IpamdCallers
from tools.lab.pki import ADMIN_NAME, LabPki
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
    pki: LabPki | None  # None: ipamd serves plaintext
    callers: IpamdCallers = field(init=False)

    def __post_init__(self) -> None:
        self.callers = IpamdCallers(self.address, self.pki)

    def channel(self, role: Role = Role.ADMIN, name: str = ADMIN_NAME) -> grpc.aio.Channel:
        """A channel presenting role/name's certificate (plaintext to a plaintext ipamd)."""
        return self.callers.channel(role, name)

    def stub_as(self, role: Role, name: str) -> ipam_pb2_grpc.IpamAsyncStub:
        return self.callers.stub_as(role, name)

    def node_stub(self, node: str) -> ipam_pb2_grpc.IpamAsyncStub:
        return self.callers.node_stub(node)

    def stub(self) -> ipam_pb2_grpc.IpamAsyncStub:
        """Calls as each request's node, as its agent would (tools.lab.ipamd_callers)."""
        return self.callers.as_each_node()

    def http(self, path: str) -> tuple[int, str]:
        return http_get(f"http://{self.http_address}{path}")

    def log_events(self) -> list[dict[str, object]]:
        events = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                events.append(json.loads(line))
        return events

    async def stop(self) -> int:
        await self.callers.close()
        return await asyncio.to_thread(stop, self.process)


class IpamdFactory:
    def __init__(
        self, etcd: EtcdEndpoint, pki: LabPki, etcd_tls: TlsFiles, prefix: str, log_dir: Path
    ) -> None:
        self.etcd = etcd
        self.pki = pki
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
        """The command line of an ipamd on listen, serving mutual TLS unless flags say
        --insecure-plaintext; without tls, no etcd TLS flags."""
        etcd_tls = [
            "--etcd-ca", str(self.etcd_tls.ca),
            "--etcd-cert", str(self.etcd_tls.cert),
            "--etcd-key", str(self.etcd_tls.key),
        ]  # fmt: skip
        serving_tls = (
            [] if "--insecure-plaintext" in flags else self.pki.ipamd_tls_flags(["127.0.0.1"])
        )
        return [
            IPAMD,
            "--listen",
            listen,
            "--http-host",
            "127.0.0.1",
            "--http-port",
            str(http_port),
            *serving_tls,
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
        ipamd = Ipamd(
            process,
            address,
            log_path,
            http_address,
            None if "--insecure-plaintext" in flags else self.pki,
        )
        self.started.append(ipamd)

        def ready() -> bool:
            return ipamd.http("/readyz")[0] == 200

        await asyncio.to_thread(wait_until, ready, 20.0, "ipamd ready", process, log_path)
        return ipamd


@pytest.fixture
async def ipamd_factory(
    etcd: EtcdEndpoint, pki: LabPki, etcd_client_tls: TlsFiles, etcd_prefix: str, tmp_path: Path
) -> AsyncIterator[IpamdFactory]:
    factory = IpamdFactory(etcd, pki, etcd_client_tls, etcd_prefix, tmp_path)
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
