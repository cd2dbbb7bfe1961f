"""podnet.tls's gRPC credentials in real handshakes: a server that requires a client
certificate of its CA, sees the caller's identity, and takes renewed files without a
restart."""

from __future__ import annotations

import asyncio
import datetime
import time
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2
from podnet.tls.files import TlsFiles, WatchedTlsFiles, load_material
from podnet.tls.grpc_credentials import channel_credentials
from podnet.tls.identity import Role, SpiffeId
from podnet.tls.pair import read_file

from podnetctl.certs import commands
from podnetctl.certs.authority import LeafRequest, new_key
from podnetctl.certs.store import CertificateStore
from podnetctl.certs.validity import Validity
from tests.certs.conftest import podnetctl_ok
from tests.certs.tls_server import check, mtls_server, served_certificate

SERVING = health_pb2.HealthCheckResponse.SERVING


def files_of(store: CertificateStore, role: Role, name: str) -> TlsFiles:
    paths = store.leaf(role, name)
    return TlsFiles(store.ca_cert, paths.cert, paths.key)


def make_pki(root: Path) -> CertificateStore:
    """A CA with ipamd-0 (serving 127.0.0.1), node worker, and an expired node."""
    store = CertificateStore(root)
    commands.init_ca(store)
    commands.issue(store, Role.IPAMD, "ipamd-0", ip_addresses=["127.0.0.1"])
    commands.issue(store, Role.NODE, "worker")
    authority = store.load_ca()
    expired = SpiffeId(authority.trust_domain, Role.NODE, "expired")
    now = datetime.datetime.now(datetime.UTC)
    past = Validity(now - datetime.timedelta(days=30), now - datetime.timedelta(days=1))
    key = new_key()
    store.save_leaf(expired, authority.issue(LeafRequest(expired), past, key), key)
    return store


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> CertificateStore:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def foreign(tmp_path_factory: pytest.TempPathFactory) -> CertificateStore:
    """Another CA, same trust domain name, with its own node worker."""
    return make_pki(tmp_path_factory.mktemp("foreign"))


def client_channel(address: str, ca: TlsFiles, client: TlsFiles | None) -> grpc.aio.Channel:
    """Trusting ca.ca for the server; presenting client's pair if given."""
    ca_pem = read_file(ca.ca, "CA")
    if client is None:
        credentials = grpc.ssl_channel_credentials(ca_pem)
    else:
        credentials = grpc.ssl_channel_credentials(
            ca_pem, read_file(client.key, "key"), read_file(client.cert, "cert")
        )
    return grpc.aio.secure_channel(address, credentials)


async def refused(channel: grpc.aio.Channel) -> grpc.aio.AioRpcError:
    async with channel:
        with pytest.raises(grpc.aio.AioRpcError) as failure:
            await check(channel)
    return failure.value


async def test_a_node_certificate_gets_through_and_the_server_sees_node_worker(
    pki: CertificateStore,
) -> None:
    server_files = WatchedTlsFiles(files_of(pki, Role.IPAMD, "ipamd-0"))
    async with mtls_server(server_files) as server:
        node = load_material(files_of(pki, Role.NODE, "worker"))
        async with grpc.aio.secure_channel(server.address, channel_credentials(node)) as channel:
            assert await check(channel) == SERVING
        (caller,) = server.recorder.callers
        assert (caller.role, caller.name) == (Role.NODE, "worker")
        assert caller.trust_domain == "podnet.local"


async def test_handshakes_fail_without_a_valid_client_certificate_of_the_ca(
    pki: CertificateStore, foreign: CertificateStore
) -> None:
    server_files = WatchedTlsFiles(files_of(pki, Role.IPAMD, "ipamd-0"))
    ours = files_of(pki, Role.NODE, "worker")
    async with mtls_server(server_files) as server:
        cases = {
            "no client certificate": None,
            "another CA's node": files_of(foreign, Role.NODE, "worker"),
            "an expired node": files_of(pki, Role.NODE, "expired"),
            # serverAuth only: a server's certificate cannot be used to call.
            "ipamd's own certificate": files_of(pki, Role.IPAMD, "ipamd-0"),
        }
        for case, client in cases.items():
            error = await refused(client_channel(server.address, ours, client))
            assert error.code() == grpc.StatusCode.UNAVAILABLE, case
        assert server.recorder.callers == []
        # The server is fine after all that.
        async with client_channel(server.address, ours, ours) as channel:
            assert await check(channel) == SERVING


async def test_a_client_refuses_a_server_of_another_ca(
    pki: CertificateStore, foreign: CertificateStore
) -> None:
    impostor = WatchedTlsFiles(files_of(foreign, Role.IPAMD, "ipamd-0"))
    async with mtls_server(impostor) as server:
        ours = load_material(files_of(pki, Role.NODE, "worker"))
        error = await refused(grpc.aio.secure_channel(server.address, channel_credentials(ours)))
        assert error.code() == grpc.StatusCode.UNAVAILABLE
        assert server.recorder.callers == []


async def test_a_renewed_server_certificate_is_served_without_a_restart(tmp_path: Path) -> None:
    pki = make_pki(tmp_path / "pki")
    node = files_of(pki, Role.NODE, "worker")
    server_files = WatchedTlsFiles(files_of(pki, Role.IPAMD, "ipamd-0"), poll_seconds=0.2)
    async with mtls_server(server_files) as server:
        first = await served_certificate(server.address, node)
        old_channel = grpc.aio.secure_channel(
            server.address, channel_credentials(load_material(node))
        )
        assert await check(old_channel) == SERVING

        podnetctl_ok("certs", "renew", "--dir", pki.root, "--role", "ipamd", "--name", "ipamd-0")
        renewed = load_material(files_of(pki, Role.IPAMD, "ipamd-0")).pair.certificate
        assert renewed.serial_number != first.serial_number

        deadline = time.monotonic() + 10
        while (await served_certificate(server.address, node)).serial_number != (
            renewed.serial_number
        ):
            assert time.monotonic() < deadline, "the server kept its old certificate"
            await asyncio.sleep(0.1)
        print(f"\nnew certificate served {time.monotonic() - deadline + 10:.2f}s after renew")
        async with grpc.aio.secure_channel(
            server.address, channel_credentials(load_material(node))
        ) as channel:
            assert await check(channel) == SERVING
        assert await check(old_channel) == SERVING, "open connections live on"
        await old_channel.close(None)
    assert len(server.recorder.callers) == 3
