"""Reading podnet identities out of X.509 certificates."""

from __future__ import annotations

from cryptography import x509

from podnet.tls.errors import InvalidIdentity, TlsFileError
from podnet.tls.identity import SPIFFE_SCHEME, SpiffeId, check_name


def parse_pem_certificates(pem: bytes, what: str) -> list[x509.Certificate]:
    """Every certificate in pem, at least one; TlsFileError naming `what` otherwise."""
    try:
        return x509.load_pem_x509_certificates(pem)
    except ValueError as error:
        raise TlsFileError(f"{what}: not a PEM certificate ({error})") from None


def subject_alt_names(certificate: x509.Certificate) -> x509.SubjectAlternativeName:
    try:
        return certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return x509.SubjectAlternativeName([])


def spiffe_id_of(certificate: x509.Certificate) -> SpiffeId:
    """The identity of a leaf certificate: exactly one URI SAN, a podnet SPIFFE ID."""
    uris = subject_alt_names(certificate).get_values_for_type(x509.UniformResourceIdentifier)
    if len(uris) != 1:
        raise InvalidIdentity(f"a podnet certificate has one URI SAN, this one has {len(uris)}")
    return SpiffeId.parse(uris[0])


def trust_domain_of_ca(certificate: x509.Certificate) -> str:
    """The trust domain a podnet CA certificate names as its SPIFFE ID spiffe://<domain>."""
    uris = subject_alt_names(certificate).get_values_for_type(x509.UniformResourceIdentifier)
    if len(uris) != 1 or not uris[0].startswith(SPIFFE_SCHEME):
        raise InvalidIdentity("the CA certificate names no trust domain (spiffe://<domain>)")
    return check_name(uris[0][len(SPIFFE_SCHEME) :], "trust domain")
