"""`podnetctl certs`: the CA, a full set of identities, their files, renewal and refusals."""

from __future__ import annotations

import datetime
import ipaddress
import os
import stat
import subprocess
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from podnet.tls.identity import Role

from podnetctl.certs import commands
from podnetctl.certs.store import CertificateStore
from tests.certs.conftest import load_certificate, podnetctl, podnetctl_ok

SERVER, CLIENT = ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH

# role, name, SAN flags, the EKUs it must carry
FULL_SET = [
    ("node", "worker", [], {CLIENT}),
    # with its node IP, a node's certificate also serves the agent's admin service
    ("node", "agent-a", ["--ip", "10.0.0.7"], {SERVER, CLIENT}),
    ("ipamd", "ipamd-0", ["--ip", "127.0.0.1", "--dns", "ipamd.kube-system.svc"], {SERVER}),
    ("admin", "alice", [], {CLIENT}),
    ("etcd", "etcd-0", ["--ip", "127.0.0.1", "--ip", "::1"], {SERVER, CLIENT}),
    ("etcd-client", "ipamd", [], {CLIENT}),
]


def issue_full_set(directory: Path) -> None:
    for role, name, sans, _ in FULL_SET:
        podnetctl_ok("certs", "issue", "--dir", directory, "--role", role, "--name", name, *sans)


def extension(certificate: x509.Certificate, kind: type[x509.ExtensionType]) -> Any:
    """The extension (with .critical and .value) of that kind; fails if absent."""
    return certificate.extensions.get_extension_for_class(kind)


def openssl_verify(directory: Path, purpose: str, cert: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["openssl", "verify", "-CAfile", str(directory / "ca.crt"), "-purpose", purpose, str(cert)],
        capture_output=True,
        text=True,
        check=False,
    )


def test_init_makes_a_path_length_0_signing_certificate_of_the_trust_domain(
    tmp_path: Path,
) -> None:
    out = podnetctl_ok("certs", "init", "--dir", tmp_path / "pki")
    assert "podnet.local" in out and "ca.crt" in out
    ca = load_certificate(tmp_path / "pki/ca.crt")
    constraints = extension(ca, x509.BasicConstraints)
    assert constraints.critical and constraints.value.ca and constraints.value.path_length == 0
    usage = extension(ca, x509.KeyUsage)
    assert usage.critical and usage.value.key_cert_sign and usage.value.crl_sign
    assert not usage.value.digital_signature
    names = extension(ca, x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.UniformResourceIdentifier) == ["spiffe://podnet.local"]
    assert ca.signature_hash_algorithm is not None and ca.public_key().curve.name == "secp256r1"  # type: ignore[union-attr]
    lifetime = ca.not_valid_after_utc - ca.not_valid_before_utc
    assert datetime.timedelta(days=3650) <= lifetime <= datetime.timedelta(days=3650, hours=1)
    ca.verify_directly_issued_by(ca)


def test_a_full_set_chains_to_the_ca_with_its_identity_sans_and_usages(cert_dir: Path) -> None:
    issue_full_set(cert_dir)
    ca = load_certificate(cert_dir / "ca.crt")
    now = datetime.datetime.now(datetime.UTC)
    for role, name, _, usages in FULL_SET:
        path = cert_dir / role / f"{name}.crt"
        certificate = load_certificate(path)
        certificate.verify_directly_issued_by(ca)
        names = extension(certificate, x509.SubjectAlternativeName).value
        uris = names.get_values_for_type(x509.UniformResourceIdentifier)
        assert uris == [f"spiffe://podnet.local/{role}/{name}"]
        # etcd maps a client certificate's CN to its RBAC user.
        common_names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        assert [attribute.value for attribute in common_names] == [name]
        assert set(extension(certificate, x509.ExtendedKeyUsage).value) == usages
        constraints = extension(certificate, x509.BasicConstraints)
        assert constraints.critical and not constraints.value.ca
        usage = extension(certificate, x509.KeyUsage).value
        assert usage.digital_signature and not usage.key_cert_sign and not usage.crl_sign
        # A year, backdated a few minutes for clocks that run behind.
        assert datetime.timedelta(minutes=1) < now - certificate.not_valid_before_utc
        assert now - certificate.not_valid_before_utc < datetime.timedelta(minutes=10)
        lifetime = certificate.not_valid_after_utc - now
        assert datetime.timedelta(days=364) < lifetime <= datetime.timedelta(days=365)
        for purpose, eku in (("sslserver", SERVER), ("sslclient", CLIENT)):
            verified = openssl_verify(cert_dir, purpose, path)
            assert (verified.returncode == 0) == (eku in usages), (role, purpose, verified)
            if eku in usages:
                assert f"{path}: OK" in verified.stdout

    ipamd = extension(load_certificate(cert_dir / "ipamd/ipamd-0.crt"), x509.SubjectAlternativeName)
    assert ipamd.value.get_values_for_type(x509.DNSName) == ["ipamd.kube-system.svc"]
    assert ipamd.value.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    etcd = extension(load_certificate(cert_dir / "etcd/etcd-0.crt"), x509.SubjectAlternativeName)
    # Members demand this name of their peers: nothing else the CA signs has it.
    assert etcd.value.get_values_for_type(x509.DNSName) == ["etcd-peer.podnet.local"]
    assert etcd.value.get_values_for_type(x509.IPAddress) == [
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    ]


def test_keys_are_0600_and_directories_0700_whatever_the_umask(tmp_path: Path) -> None:
    directory = tmp_path / "pki"
    store = CertificateStore(directory)
    old = os.umask(0)
    try:
        commands.init_ca(store)
        for role, name, sans, _ in FULL_SET:
            ips = [
                value for flag, value in zip(sans[::2], sans[1::2], strict=True) if flag == "--ip"
            ]
            dns = [
                value for flag, value in zip(sans[::2], sans[1::2], strict=True) if flag == "--dns"
            ]
            commands.issue(store, Role(role), name, dns, ips)
    finally:
        os.umask(old)
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((directory / "ca.key").stat().st_mode) == 0o600
    for role, name, _, _ in FULL_SET:
        assert stat.S_IMODE((directory / role).stat().st_mode) == 0o700
        assert stat.S_IMODE((directory / role / f"{name}.key").stat().st_mode) == 0o600
        assert stat.S_IMODE((directory / role / f"{name}.crt").stat().st_mode) == 0o644
    assert sorted(p.name for p in directory.iterdir()) == sorted(
        ["ca.crt", "ca.key", *{role for role, *_ in FULL_SET}]
    ), "no temporary files are left behind"


def test_existing_ca_and_certificates_are_replaced_only_with_force(cert_dir: Path) -> None:
    ca_before = (cert_dir / "ca.crt").read_bytes(), (cert_dir / "ca.key").read_bytes()
    again = podnetctl("certs", "init", "--dir", cert_dir)
    assert again.returncode == 1
    assert len(again.stderr.splitlines()) == 1 and "--force" in again.stderr
    assert ((cert_dir / "ca.crt").read_bytes(), (cert_dir / "ca.key").read_bytes()) == ca_before

    issue: list[str | Path] = ["certs", "issue", "--dir", cert_dir]
    issue += ["--role", "node", "--name", "worker"]
    podnetctl_ok(*issue)
    first = (cert_dir / "node/worker.crt").read_bytes()
    refused = podnetctl(*issue)
    assert refused.returncode == 1 and len(refused.stderr.splitlines()) == 1
    assert "already exists" in refused.stderr and "renew" in refused.stderr
    assert (cert_dir / "node/worker.crt").read_bytes() == first
    podnetctl_ok(*issue, "--force")
    assert (cert_dir / "node/worker.crt").read_bytes() != first

    podnetctl_ok("certs", "init", "--dir", cert_dir, "--force")
    assert (cert_dir / "ca.crt").read_bytes() != ca_before[0]


def test_renew_keeps_the_sans_with_a_new_key_serial_and_validity(cert_dir: Path) -> None:
    sans = ["--ip", "127.0.0.1", "--ip", "192.0.2.7", "--dns", "ipamd.example"]
    podnetctl_ok(
        "certs", "issue", "--dir", cert_dir, "--role", "ipamd", "--name", "ipamd-0", "--days", "30",
        *sans,
    )  # fmt: skip
    path = cert_dir / "ipamd/ipamd-0.crt"
    before, key_before = load_certificate(path), (cert_dir / "ipamd/ipamd-0.key").read_bytes()
    out = podnetctl_ok("certs", "renew", "--dir", cert_dir, "--role", "ipamd", "--name", "ipamd-0")
    assert "renewed" in out
    after = load_certificate(path)
    assert after.serial_number != before.serial_number
    assert (cert_dir / "ipamd/ipamd-0.key").read_bytes() != key_before
    assert after.not_valid_after_utc - before.not_valid_after_utc > datetime.timedelta(days=300)
    assert extension(after, x509.SubjectAlternativeName).value == (
        extension(before, x509.SubjectAlternativeName).value
    )
    assert extension(after, x509.ExtendedKeyUsage).value == (
        extension(before, x509.ExtendedKeyUsage).value
    )
    assert openssl_verify(cert_dir, "sslserver", path).returncode == 0

    podnetctl_ok(
        "certs", "issue", "--dir", cert_dir, "--role", "etcd", "--name", "m0", "--ip", "::1"
    )
    podnetctl_ok("certs", "renew", "--dir", cert_dir, "--role", "etcd", "--name", "m0")
    renewed = extension(load_certificate(cert_dir / "etcd/m0.crt"), x509.SubjectAlternativeName)
    assert renewed.value.get_values_for_type(x509.DNSName) == ["etcd-peer.podnet.local"]


def test_the_trust_domain_is_configurable(tmp_path: Path) -> None:
    directory = tmp_path / "pki"
    podnetctl_ok("certs", "init", "--dir", directory, "--trust-domain", "cluster-a.example")
    podnetctl_ok("certs", "issue", "--dir", directory, "--role", "node", "--name", "n1")
    names = extension(load_certificate(directory / "node/n1.crt"), x509.SubjectAlternativeName)
    assert names.value.get_values_for_type(x509.UniformResourceIdentifier) == [
        "spiffe://cluster-a.example/node/n1"
    ]


@pytest.mark.parametrize(
    ("args", "status", "says"),
    [
        (["issue", "--role", "kubelet", "--name", "a"], 2, "unknown role 'kubelet'"),
        (["issue", "--role", "node", "--name", "Bad_Name"], 2, "'Bad_Name'"),
        (["issue", "--role", "node", "--name", "../escape"], 2, "'../escape'"),
        (["issue", "--role", "node", "--name", "a", "--days", "0"], 2, "'0'"),
        (["issue", "--role", "admin", "--name", "a", "--ip", "127.0.0.1"], 1, "client only"),
        (["issue", "--role", "ipamd", "--name", "a"], 1, "--dns or --ip"),
        (["issue", "--role", "ipamd", "--name", "a", "--ip", "300.1.1.1"], 1, "'300.1.1.1'"),
        (["issue", "--role", "ipamd", "--name", "a", "--dns", "x_y"], 1, "'x_y'"),
        (["issue", "--role", "node", "--name", "a", "--days", "5000"], 1, "outlive the CA"),
        (["renew", "--role", "node", "--name", "never-issued"], 1, "no certificate"),
        (["init", "--trust-domain", "Not Valid"], 2, "'Not Valid'"),
    ],
)
def test_bad_input_is_one_line_and_changes_nothing(
    cert_dir: Path, args: list[str], status: int, says: str
) -> None:
    before = sorted(str(path) for path in cert_dir.rglob("*"))
    done = podnetctl("certs", args[0], "--dir", cert_dir, *args[1:])
    assert done.returncode == status, done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert done.stderr.startswith("podnetctl") and says in done.stderr
    assert done.stdout == ""
    assert sorted(str(path) for path in cert_dir.rglob("*")) == before


def test_issuing_without_a_ca_says_how_to_make_one(tmp_path: Path) -> None:
    done = podnetctl("certs", "issue", "--dir", tmp_path, "--role", "node", "--name", "a")
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"podnetctl: error: no CA in {tmp_path} (expected ca.crt): run `podnetctl certs init`"
    ]
    assert list(tmp_path.iterdir()) == []
