"""The real ipamd serves mutual TLS only: its flags, who gets through the handshake, TLS
1.2 at least, and a renewed serving certificate taken without a restart."""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess

import grpc
import pytest
from cryptography import x509
from grpc_health.v1 import health_pb2, health_pb2_grpc
from podnet.tls.files import TlsFiles
from podnet.tls.identity import Role
from podnet.tls.pair import read_file

from tests.ipamd.conftest import IPAMD, Ipamd, IpamdFactory, acquire
from tools.lab.ipamd_callers import IpamdCallers
from tools.lab.pki import IPAMD_NAME, LabPki

SERVING = health_pb2.HealthCheckResponse.SERVING


async def _health(channel: grpc.aio.Channel) -> int:
    async with channel:
        stub = health_pb2_grpc.HealthStub(channel)
        reply = await stub.Check(health_pb2.HealthCheckRequest(), timeout=3)
        status: int = reply.status
        return status


def _channel(address: str, ca: TlsFiles, client: TlsFiles | None) -> grpc.aio.Channel:
    ca_pem = read_file(ca.ca, "CA")
    if client is None:
        return grpc.aio.secure_channel(address, grpc.ssl_channel_credentials(ca_pem))
    credentials = grpc.ssl_channel_credentials(
        ca_pem, read_file(client.key, "key"), read_file(client.cert, "cert")
    )
    return grpc.aio.secure_channel(address, credentials)


async def _refused(channel: grpc.aio.Channel) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as failure:
        await _health(channel)
    return failure.value


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)


async def test_without_tls_flags_ipamd_refuses_to_start_with_one_line(
    ipamd_factory: IpamdFactory, pki: LabPki
) -> None:
    argv = ipamd_factory.argv("127.0.0.1:0", "--insecure-plaintext")
    tls = pki.ipamd_tls_flags(["127.0.0.1"])
    cases = {
        "missing": ([], "--tls-cert, --tls-key, --tls-client-ca"),
        "incomplete": (tls[:4], "--tls-client-ca"),
        "both": ([*tls, "--insecure-plaintext"], "exclude each other"),
        "node certificate": (
            [
                *("--tls-cert", str(pki.node("node-a").cert)),
                *("--tls-key", str(pki.node("node-a").key)),
                *("--tls-client-ca", str(pki.ca)),
            ],
            "not an ipamd certificate",
        ),
        "trust domain": ([*tls, "--trust-domain", "example.org"], "example.org"),
        "no such file": (
            ["--tls-cert", "/nonexistent.crt", *tls[2:]],
            "/nonexistent.crt",
        ),
    }
    base = [arg for arg in argv if arg != "--insecure-plaintext"]
    for case, (flags, expected) in cases.items():
        done = await asyncio.to_thread(_run, [*base, *flags])
        assert done.returncode == 2, (case, done.stderr)
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1 and expected in lines[0], (case, done.stderr)
        assert lines[0].startswith("podnet-ipamd: error:"), case


async def test_plaintext_needs_the_flag_that_says_so_and_is_logged(
    ipamd_factory: IpamdFactory,
) -> None:
    ipamd = await ipamd_factory.start("--insecure-plaintext")
    assert (await acquire(ipamd.stub(), "node-a")).cidr
    warnings = [e for e in ipamd.log_events() if e.get("event") == "insecure_plaintext"]
    assert warnings and warnings[0]["level"] == "warning"
    serving = [e for e in ipamd.log_events() if e.get("event") == "serving"]
    assert serving[0]["tls"] is False


async def test_only_a_client_certificate_of_the_cluster_ca_gets_through(
    ipamd: Ipamd, pki: LabPki, tmp_path_factory: pytest.TempPathFactory
) -> None:
    ours = pki.node("node-a")
    foreign = LabPki(tmp_path_factory.mktemp("foreign-pki"))
    expired = pki.expire(Role.NODE, "expired-node")
    cases = {
        "plaintext": grpc.aio.insecure_channel(ipamd.address),
        "no client certificate": _channel(ipamd.address, ours, None),
        "another CA's node": _channel(ipamd.address, ours, foreign.node("node-a")),
        "an expired node": _channel(ipamd.address, ours, expired),
        # serverAuth only: a server's certificate cannot be used to call.
        "ipamd's own certificate": _channel(ipamd.address, ours, pki.files(Role.IPAMD, IPAMD_NAME)),
    }
    for case, channel in cases.items():
        error = await _refused(channel)
        assert error.code() == grpc.StatusCode.UNAVAILABLE, (case, error)
    assert await _health(_channel(ipamd.address, ours, ours)) == SERVING
    assert await _health(_channel(ipamd.address, ours, pki.admin())) == SERVING


def _handshake(address: str, files: TlsFiles, version: ssl.TLSVersion) -> str:
    """The TLS version negotiated with ipamd offering only `version`; raises ssl.SSLError
    when ipamd refuses."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.minimum_version = context.maximum_version = version
    context.set_ciphers("DEFAULT:@SECLEVEL=0")  # let this client offer old versions at all
    context.load_verify_locations(files.ca)
    context.load_cert_chain(files.cert, files.key)
    context.set_alpn_protocols(["h2"])
    host, _, port = address.rpartition(":")
    with (
        socket.create_connection((host, int(port)), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        return str(tls.version())


async def test_tls_1_2_is_the_oldest_version_ipamd_speaks(ipamd: Ipamd, pki: LabPki) -> None:
    files = pki.node("node-a")
    assert await asyncio.to_thread(_handshake, ipamd.address, files, ssl.TLSVersion.TLSv1_2) == (
        "TLSv1.2"
    )
    with pytest.raises(ssl.SSLError) as refused:
        await asyncio.to_thread(_handshake, ipamd.address, files, ssl.TLSVersion.TLSv1_1)
    # ipamd hung up on the hello (or alerted), rather than this client declining to offer
    # TLS 1.1 at all.
    assert "NO_PROTOCOLS_AVAILABLE" not in str(refused.value), refused.value
    assert isinstance(refused.value, ssl.SSLEOFError) or "PROTOCOL_VERSION" in str(refused.value), (
        refused.value
    )


async def test_a_renewed_serving_certificate_is_served_after_sighup_without_a_restart(
    ipamd_factory: IpamdFactory, pki: LabPki
) -> None:
    ipamd = await ipamd_factory.start()
    before = ipamd.node_stub("node-a")
    await acquire(before, "node-a")
    old_serial = _served_serial(ipamd.address, pki)
    pki.renew(Role.IPAMD, IPAMD_NAME)
    ipamd.process.send_signal(1)  # SIGHUP

    async def reloaded() -> bool:
        return any(e.get("event") == "tls_reloaded" for e in ipamd.log_events())

    for _ in range(50):
        if await reloaded():
            break
        await asyncio.sleep(0.1)
    assert await reloaded()
    new_serial = await asyncio.to_thread(_served_serial, ipamd.address, pki)
    assert new_serial != old_serial
    assert new_serial == pki.store.load_leaf_certificate(Role.IPAMD, IPAMD_NAME).serial_number
    # The connection made before the renewal still works; so does a new one.
    await acquire(before, "node-a")
    fresh = IpamdCallers(ipamd.address, pki)
    try:
        await acquire(fresh.node_stub("node-a"), "node-a")
    finally:
        await fresh.close()
    assert ipamd.process.poll() is None


def _served_serial(address: str, pki: LabPki) -> int:
    files = pki.node("node-a")
    context = ssl.create_default_context(cafile=str(files.ca))
    context.load_cert_chain(files.cert, files.key)
    context.set_alpn_protocols(["h2"])
    host, _, port = address.rpartition(":")
    with (
        socket.create_connection((host, int(port)), timeout=5) as raw,
        context.wrap_socket(raw, server_hostname=host) as tls,
    ):
        der = tls.getpeercert(binary_form=True)
    assert der is not None
    return x509.load_der_x509_certificate(der).serial_number


def test_ipamd_help_names_every_tls_flag() -> None:
    done = _run([IPAMD, "--help"])
    for flag in ("--tls-cert", "--tls-key", "--tls-client-ca", "--trust-domain"):
        assert flag in done.stdout
    assert "--insecure-plaintext" in done.stdout
