"""The certificate directory: the CA at the top, one subdirectory per role.

DIR/ca.crt  DIR/ca.key
DIR/<role>/<name>.crt  DIR/<role>/<name>.key
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from podnet.tls.certificates import parse_pem_certificates, trust_domain_of_ca
from podnet.tls.errors import TlsError
from podnet.tls.identity import Role, SpiffeId
from podnet.tls.pair import read_file

from podnetctl.certs.atomic_files import make_private_dir, replace_pair
from podnetctl.certs.authority import CertificateAuthority
from podnetctl.errors import CommandError


def pem_of_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def pem_of_certificate(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


@dataclass(frozen=True)
class LeafPaths:
    cert: Path
    key: Path


@dataclass(frozen=True)
class CertificateStore:
    root: Path

    @property
    def ca_cert(self) -> Path:
        return self.root / "ca.crt"

    @property
    def ca_key(self) -> Path:
        return self.root / "ca.key"

    def leaf(self, role: Role, name: str) -> LeafPaths:
        directory = self.root / role.value
        return LeafPaths(directory / f"{name}.crt", directory / f"{name}.key")

    def has_ca(self) -> bool:
        return self.ca_cert.exists() or self.ca_key.exists()

    def save_ca(self, authority: CertificateAuthority) -> None:
        make_private_dir(self.root)
        replace_pair(
            self.ca_key,
            pem_of_key(authority.private_key),
            self.ca_cert,
            pem_of_certificate(authority.certificate),
        )

    def load_ca(self) -> CertificateAuthority:
        if not self.ca_cert.exists():
            raise CommandError(
                f"no CA in {self.root} (expected {self.ca_cert.name}): run `podnetctl certs init`"
            )
        try:
            certificate = parse_pem_certificates(
                read_file(self.ca_cert, "CA certificate"), str(self.ca_cert)
            )[0]
            key = serialization.load_pem_private_key(
                read_file(self.ca_key, "CA key"), password=None
            )
            trust_domain = trust_domain_of_ca(certificate)
        except (TlsError, ValueError, TypeError) as error:
            raise CommandError(f"CA in {self.root}: {error}") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise CommandError(f"CA key {self.ca_key} is not an ECDSA key")
        return CertificateAuthority(certificate, key, trust_domain)

    def save_leaf(
        self, identity: SpiffeId, certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey
    ) -> LeafPaths:
        paths = self.leaf(identity.role, identity.name)
        make_private_dir(paths.cert.parent)
        replace_pair(paths.key, pem_of_key(key), paths.cert, pem_of_certificate(certificate))
        return paths

    def load_leaf_certificate(self, role: Role, name: str) -> x509.Certificate:
        paths = self.leaf(role, name)
        if not paths.cert.exists():
            raise CommandError(
                f"no certificate {paths.cert} to renew: issue it with `podnetctl certs issue`"
            )
        try:
            return parse_pem_certificates(read_file(paths.cert, "certificate"), str(paths.cert))[0]
        except TlsError as error:
            raise CommandError(str(error)) from None
