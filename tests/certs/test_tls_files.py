"""Reading certificate files that are being replaced: pairs that must match, daemons that
keep good material through bad files, and who a peer certificate says it is."""

from __future__ import annotations

import asyncio
import datetime
import os
import shutil
import threading
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

import pytest
from cryptography import x509
from podnet.tls.errors import InvalidIdentity, MismatchedPair, TlsError, TlsFileError
from podnet.tls.files import TlsFiles, WatchedTlsFiles, load_material
from podnet.tls.identity import Role, SpiffeId
from podnet.tls.pair import load_pair
from podnet.tls.peer import peer_identity

from podnetctl.certs import commands
from podnetctl.certs.store import CertificateStore


@pytest.fixture
def store(cert_dir: Path) -> CertificateStore:
    store = CertificateStore(cert_dir)
    commands.issue(store, Role.IPAMD, "ipamd-0", ip_addresses=["127.0.0.1"])
    commands.issue(store, Role.NODE, "worker")
    return store


def files_of(store: CertificateStore, role: Role, name: str) -> TlsFiles:
    paths = store.leaf(role, name)
    return TlsFiles(store.ca_cert, paths.cert, paths.key)


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_key_of_another_certificate_is_refused_after_retries(store: CertificateStore) -> None:
    ipamd, node = files_of(store, Role.IPAMD, "ipamd-0"), files_of(store, Role.NODE, "worker")
    started = time.monotonic()
    with pytest.raises(MismatchedPair, match="does not belong"):
        load_pair(ipamd.cert, node.key, attempts=3, pause=0.05)
    assert time.monotonic() - started >= 0.1


def test_a_pair_caught_mid_renewal_is_read_again(store: CertificateStore, tmp_path: Path) -> None:
    """The renewer has renamed the key, not yet the certificate; a moment later it has."""
    node = files_of(store, Role.NODE, "worker")
    reader = TlsFiles(node.ca, tmp_path / "worker.crt", tmp_path / "worker.key")
    shutil.copy(node.cert, reader.cert)
    commands.renew(store, Role.NODE, "worker")
    shutil.copy(node.key, reader.key)  # the new key beside the old certificate
    finish = threading.Timer(
        0.05, lambda: os.replace(shutil.copy(node.cert, tmp_path / "t"), reader.cert)
    )
    finish.start()
    try:
        pair = load_pair(reader.cert, reader.key, attempts=10, pause=0.03)
    finally:
        finish.join()
    assert pair.certificate_pem == node.cert.read_bytes()


def test_a_reader_racing_renewals_never_gets_a_mismatched_pair(store: CertificateStore) -> None:
    node = files_of(store, Role.NODE, "worker")
    done = threading.Event()

    def renew_repeatedly() -> None:
        for _ in range(30):
            commands.renew(store, Role.NODE, "worker")
        done.set()

    renewer = threading.Thread(target=renew_repeatedly)
    renewer.start()
    serials = set()
    try:
        while not done.is_set():
            serials.add(
                load_pair(node.cert, node.key, attempts=20, pause=0.005).certificate.serial_number
            )
    finally:
        renewer.join()
    assert len(serials) > 1, "the reader saw renewals"


def test_renewed_files_are_taken_in_at_the_next_poll(store: CertificateStore) -> None:
    clock = Clock()
    watched = WatchedTlsFiles(files_of(store, Role.IPAMD, "ipamd-0"), poll_seconds=5, clock=clock)
    first = watched.current()
    assert first.identity == SpiffeId("podnet.local", Role.IPAMD, "ipamd-0")
    commands.renew(store, Role.IPAMD, "ipamd-0")
    clock.now = 4.9
    assert watched.current() is first, "not looked at before the poll is due"
    clock.now = 5.0
    second = watched.current()
    assert second.generation == first.generation + 1
    assert second.pair.certificate.serial_number != first.pair.certificate.serial_number
    # Touched but unchanged: nothing new.
    os.utime(store.leaf(Role.IPAMD, "ipamd-0").cert)
    clock.now = 10.0
    assert watched.current().generation == second.generation


def test_bad_files_keep_the_previous_material_until_they_are_good(
    store: CertificateStore, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    files = files_of(store, Role.IPAMD, "ipamd-0")
    watched = WatchedTlsFiles(files, poll_seconds=1, clock=clock)
    good = watched.current()
    saved = files.cert.read_bytes()
    files.cert.write_bytes(b"-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    clock.now = 1.0
    assert watched.current() is good
    assert "tls_files_unusable" in caplog.messages
    with pytest.raises(TlsError):
        watched.reload()
    assert watched.current() is good
    files.cert.write_bytes(saved)
    assert watched.reload().generation == good.generation, "same content: same material"
    commands.renew(store, Role.IPAMD, "ipamd-0")
    assert watched.reload().generation == good.generation + 1


def test_a_certificate_of_another_ca_is_not_loaded(store: CertificateStore, tmp_path: Path) -> None:
    other = CertificateStore(tmp_path / "other")
    commands.init_ca(other)
    commands.issue(other, Role.NODE, "worker")
    foreign = files_of(other, Role.NODE, "worker")
    with pytest.raises(TlsFileError, match="not signed by the CA"):
        load_material(TlsFiles(store.ca_cert, foreign.cert, foreign.key))
    with pytest.raises(TlsFileError, match="certificate"):
        load_material(TlsFiles(store.ca_cert, tmp_path / "missing.crt", foreign.key))


async def test_changes_yields_each_new_material(store: CertificateStore) -> None:
    watched = WatchedTlsFiles(files_of(store, Role.NODE, "worker"), poll_seconds=0.05)
    changes = watched.changes()
    commands.renew(store, Role.NODE, "worker")
    changed = await asyncio.wait_for(anext(changes), 5)
    assert changed.generation == 1
    assert changed.pair.certificate_pem == store.leaf(Role.NODE, "worker").cert.read_bytes()
    await changes.aclose()  # type: ignore[attr-defined]


class AuthContext:
    """What grpc's ServicerContext.auth_context() returns for a TLS peer."""

    def __init__(self, pems: list[bytes]) -> None:
        self.properties = {"x509_pem_cert": pems} if pems else {}

    def auth_context(self) -> Mapping[str, Iterable[bytes]]:
        return self.properties


def test_peer_identity_needs_a_certificate_of_the_trust_domain(store: CertificateStore) -> None:
    pem = store.leaf(Role.NODE, "worker").cert.read_bytes()
    assert peer_identity(AuthContext([pem]), "podnet.local") == SpiffeId(
        "podnet.local", Role.NODE, "worker"
    )
    with pytest.raises(InvalidIdentity, match="not of trust domain"):
        peer_identity(AuthContext([pem]), "other.local")
    with pytest.raises(InvalidIdentity, match="no client certificate"):
        peer_identity(AuthContext([]), "podnet.local")
    ca = store.ca_cert.read_bytes()
    with pytest.raises(InvalidIdentity):
        peer_identity(AuthContext([ca]), "podnet.local")


def test_a_peer_certificate_that_expired_after_the_handshake_is_no_identity(
    store: CertificateStore,
) -> None:
    """A connection outlives the certificate it was opened with: each call checks it."""
    pem = store.leaf(Role.NODE, "worker").cert.read_bytes()
    not_after = x509.load_pem_x509_certificate(pem).not_valid_after_utc
    just_before = not_after - datetime.timedelta(seconds=1)
    assert peer_identity(AuthContext([pem]), "podnet.local", now=just_before).name == "worker"
    with pytest.raises(InvalidIdentity, match="expired"):
        peer_identity(AuthContext([pem]), "podnet.local", now=not_after + datetime.timedelta(1))


@pytest.mark.parametrize(
    "uri",
    [
        "https://podnet.local/node/a",
        "spiffe://podnet.local/node",
        "spiffe://podnet.local/kubelet/a",
        "spiffe://podnet.local/node/a/b",
        "spiffe://podnet.local/node/A",
        "spiffe://Podnet.local/node/a",
    ],
)
def test_only_podnet_spiffe_ids_parse(uri: str) -> None:
    with pytest.raises(InvalidIdentity):
        SpiffeId.parse(uri)
