"""The podnet CA: an ECDSA P-256 key and a self-signed certificate that signs every leaf.

The CA certificate carries the trust domain as its own SPIFFE ID (spiffe://<domain>), so
the domain travels with the CA and cannot disagree with it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from podnet.tls.identity import Role, SpiffeId, check_name, trust_domain_uri

from podnetctl.certs.profiles import PROFILES, Serving, etcd_peer_hostname
from podnetctl.certs.validity import Validity
from podnetctl.errors import CommandError

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@dataclass(frozen=True)
class LeafRequest:
    """What a leaf certificate says: who it is and, for servers, where it can be reached."""

    identity: SpiffeId
    dns_names: tuple[str, ...] = ()
    ip_addresses: tuple[IpAddress, ...] = ()

    def __post_init__(self) -> None:
        profile = PROFILES[self.identity.role]
        role = self.identity.role.value
        for dns_name in self.dns_names:
            check_name(dns_name, "DNS name")
        if profile.serving is Serving.ALWAYS and not self.has_addresses:
            raise CommandError(f"role {role} serves TLS: give its addresses with --dns or --ip")
        if profile.serving is Serving.NEVER and self.has_addresses:
            raise CommandError(f"role {role} is a client only: it takes no --dns or --ip")

    @property
    def has_addresses(self) -> bool:
        return bool(self.dns_names or self.ip_addresses)

    def all_dns_names(self) -> tuple[str, ...]:
        """The DNS SANs to write: the requested ones plus those the role always carries."""
        names = list(self.dns_names)
        if self.identity.role is Role.ETCD:
            peer = etcd_peer_hostname(self.identity.trust_domain)
            if peer not in names:
                names.append(peer)
        return tuple(names)


@dataclass(frozen=True)
class CertificateAuthority:
    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey
    trust_domain: str

    @classmethod
    def create(cls, trust_domain: str, validity: Validity) -> CertificateAuthority:
        key = new_key()
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "podnet"),
                x509.NameAttribute(NameOID.COMMON_NAME, f"podnet CA {trust_domain}"),
            ]
        )
        public_key = key.public_key()
        certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(validity.not_before)
            .not_valid_after(validity.not_after)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(signs_certificates=True), critical=True)
            .add_extension(
                x509.SubjectAlternativeName(
                    [x509.UniformResourceIdentifier(trust_domain_uri(trust_domain))]
                ),
                critical=False,
            )
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .sign(key, hashes.SHA256())
        )
        return cls(certificate, key, trust_domain)

    def issue(
        self, request: LeafRequest, validity: Validity, key: ec.EllipticCurvePrivateKey
    ) -> x509.Certificate:
        identity = request.identity
        if identity.trust_domain != self.trust_domain:
            raise CommandError(
                f"identity {identity} is not in the CA's trust domain {self.trust_domain}"
            )
        if validity.not_after > self.certificate.not_valid_after_utc:
            raise CommandError(
                "the certificate would outlive the CA, which expires "
                f"{self.certificate.not_valid_after_utc:%Y-%m-%d}: issue it for fewer days"
            )
        profile = PROFILES[identity.role]
        serves = profile.serves(request.has_addresses)
        usages = [ExtendedKeyUsageOID.SERVER_AUTH] if serves else []
        usages += [ExtendedKeyUsageOID.CLIENT_AUTH] if profile.client else []
        names: list[x509.GeneralName] = [x509.UniformResourceIdentifier(identity.uri)]
        names += [x509.DNSName(name) for name in request.all_dns_names()]
        names += [x509.IPAddress(address) for address in request.ip_addresses]
        ca_key_id = self.certificate.extensions.get_extension_for_class(
            x509.SubjectKeyIdentifier
        ).value
        return (
            x509.CertificateBuilder()
            # etcd takes its RBAC user name from the CN; every role gets its name there.
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, identity.name)]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(validity.not_before)
            .not_valid_after(validity.not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(signs_certificates=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage(usages), critical=False)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(
                x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
            )
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_key_id),
                critical=False,
            )
            .sign(self.private_key, hashes.SHA256())
        )


def _key_usage(signs_certificates: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not signs_certificates,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=signs_certificates,
        crl_sign=signs_certificates,
        encipher_only=False,
        decipher_only=False,
    )
