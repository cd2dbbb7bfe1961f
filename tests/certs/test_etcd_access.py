"""The session's etcd as podnet runs it: TLS only, a client certificate of the CA required,
and RBAC so that only ipamd's etcd identity reaches podnet's keys."""

from __future__ import annotations

import socket
import ssl
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import grpc
import pytest
from aetcd import rpc
from podnet.tls.files import TlsFiles
from podnet.tls.grpc_credentials import channel_credentials_from_files
from podnet.tls.identity import Role

from tests.certs.conftest import podnetctl, podnetctl_ok
from tools.lab.etcd_server import EtcdServer
from tools.lab.pki import LabPki

DENIED = grpc.StatusCode.PERMISSION_DENIED


@pytest.fixture
async def channels() -> AsyncIterator[list[grpc.aio.Channel]]:
    opened: list[grpc.aio.Channel] = []
    yield opened
    for channel in opened:
        await channel.close(None)


def kv_as(
    opened: list[grpc.aio.Channel], etcd: EtcdServer, credentials: grpc.ChannelCredentials | None
) -> Any:
    """etcd's KV stub over a channel with these credentials (None: plaintext)."""
    address = etcd.endpoint.address
    if credentials is None:
        channel = grpc.aio.insecure_channel(address)
    else:
        channel = grpc.aio.secure_channel(address, credentials)
    opened.append(channel)
    return rpc.KVStub(channel)


async def status_of(call: Any) -> grpc.StatusCode:
    try:
        await call
    except grpc.aio.AioRpcError as error:
        code: grpc.StatusCode = error.code()
        return code
    return grpc.StatusCode.OK


def put(kv: Any, key: str) -> Any:
    return kv.Put(rpc.PutRequest(key=key.encode(), value=b"v"), timeout=5)


def get(kv: Any, key: str) -> Any:
    return kv.Range(rpc.RangeRequest(key=key.encode()), timeout=5)


async def test_ipamd_identity_reads_and_writes_under_podnet_prefix_and_nowhere_else(
    etcd_server: EtcdServer,
    etcd_client_tls: TlsFiles,
    etcd_prefix: str,
    channels: list[grpc.aio.Channel],
) -> None:
    ipamd = kv_as(channels, etcd_server, channel_credentials_from_files(etcd_client_tls))
    assert await status_of(put(ipamd, f"{etcd_prefix}/probe")) == grpc.StatusCode.OK
    assert await status_of(get(ipamd, f"{etcd_prefix}/probe")) == grpc.StatusCode.OK
    assert await status_of(put(ipamd, "/elsewhere/probe")) == DENIED
    assert await status_of(get(ipamd, "/podnet-tests-not/probe")) == DENIED


async def test_other_identities_of_the_same_ca_are_refused_by_etcd(
    etcd_server: EtcdServer, pki: LabPki, etcd_prefix: str, channels: list[grpc.aio.Channel]
) -> None:
    """The CA signed them, so the handshake succeeds; etcd's RBAC refuses them."""
    for role, name in ((Role.NODE, "worker"), (Role.ADMIN, "alice"), (Role.ETCD_CLIENT, "other")):
        kv = kv_as(channels, etcd_server, channel_credentials_from_files(pki.files(role, name)))
        assert await status_of(put(kv, f"{etcd_prefix}/forged")) == DENIED, name
        assert await status_of(get(kv, f"{etcd_prefix}/forged")) == DENIED, name


async def test_without_a_certificate_of_the_ca_nothing_gets_through(
    etcd_server: EtcdServer,
    etcd_client_tls: TlsFiles,
    etcd_prefix: str,
    tmp_path: Path,
    channels: list[grpc.aio.Channel],
) -> None:
    ca_pem = etcd_client_tls.ca.read_bytes()
    # Another CA's certificate with the very CN etcd would map to ipamd's user.
    impostor = LabPki(tmp_path / "impostor").ipamd_etcd_client()
    impostor_credentials = grpc.ssl_channel_credentials(
        ca_pem, impostor.key.read_bytes(), impostor.cert.read_bytes()
    )
    for case, credentials in {
        "plaintext": None,
        "TLS without a client certificate": grpc.ssl_channel_credentials(ca_pem),
        "another CA's ipamd": impostor_credentials,
    }.items():
        kv = kv_as(channels, etcd_server, credentials)
        assert await status_of(put(kv, f"{etcd_prefix}/forged")) == grpc.StatusCode.UNAVAILABLE, (
            case
        )


def peer_handshake(etcd: EtcdServer, client: TlsFiles) -> bool:
    """Whether a TLS connection to etcd's peer port, presenting client, is accepted."""
    context = ssl.create_default_context(cafile=str(client.ca))
    context.load_cert_chain(client.cert, client.key)
    try:
        with (
            socket.create_connection((etcd.endpoint.host, etcd.peer_port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname=etcd.endpoint.host) as tls,
        ):
            tls.sendall(b"GET /version HTTP/1.1\r\nHost: etcd\r\nConnection: close\r\n\r\n")
            return tls.recv(64).startswith(b"HTTP/1.1 200")
    except (ssl.SSLError, ConnectionResetError):
        return False


def test_only_etcd_members_may_speak_to_the_peer_port(etcd_server: EtcdServer, pki: LabPki) -> None:
    assert peer_handshake(etcd_server, pki.etcd_member("another-member", "127.0.0.1").files)
    assert not peer_handshake(etcd_server, pki.files(Role.NODE, "worker"))
    assert not peer_handshake(etcd_server, pki.ipamd_etcd_client())


def test_enable_auth_runs_again_as_root_and_refuses_anyone_else(
    etcd_server: EtcdServer, pki: LabPki
) -> None:
    def enable_auth(client: TlsFiles) -> list[str]:
        return [
            "etcd", "enable-auth", "--endpoint", etcd_server.endpoint.address,
            "--ca", str(client.ca), "--cert", str(client.cert), "--key", str(client.key),
            "--prefix", "/podnet-test",
        ]  # fmt: skip

    assert "/podnet-test/" in podnetctl_ok(*enable_auth(pki.etcd_root()))
    refused = podnetctl(*enable_auth(pki.ipamd_etcd_client()))
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        f"podnetctl: error: {pki.ipamd_etcd_client().cert} is "
        "spiffe://podnet.local/etcd-client/ipamd: etcd's RBAC is managed as etcd-client/root"
    ]
