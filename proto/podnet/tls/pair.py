"""A certificate and its private key, read from two files that may be replaced at any time.

Writers (podnetctl certs renew) replace the key file, then the certificate file, each by
rename. A reader can still read one file before a replacement and the other after it, so
it must check that the key belongs to the certificate and read again if not: load_pair
does that.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes, PublicKeyTypes

from podnet.tls.certificates import parse_pem_certificates
from podnet.tls.errors import MismatchedPair, TlsFileError


@dataclass(frozen=True)
class KeyPair:
    certificate_pem: bytes  # the leaf first, then any intermediates
    private_key_pem: bytes
    certificate: x509.Certificate  # the leaf


def read_file(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise TlsFileError(f"{what} {path}: {error.strerror or error}") from None


def _parse_key(pem: bytes, path: Path) -> PrivateKeyTypes:
    try:
        return serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as error:
        raise TlsFileError(f"private key {path}: not an unencrypted PEM key ({error})") from None


def _public_der(key: PublicKeyTypes) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _read_once(cert_path: Path, key_path: Path) -> KeyPair:
    certificate_pem = read_file(cert_path, "certificate")
    key_pem = read_file(key_path, "private key")
    leaf = parse_pem_certificates(certificate_pem, f"certificate {cert_path}")[0]
    key = _parse_key(key_pem, key_path)
    if _public_der(leaf.public_key()) != _public_der(key.public_key()):
        raise MismatchedPair(f"private key {key_path} does not belong to certificate {cert_path}")
    return KeyPair(certificate_pem, key_pem, leaf)


def load_pair(cert_path: Path, key_path: Path, attempts: int = 3, pause: float = 0.05) -> KeyPair:
    """The pair in the two files, read again (up to attempts times, pause seconds apart)
    while the key does not match the certificate, as happens in the middle of a renewal."""
    for _ in range(attempts - 1):
        try:
            return _read_once(cert_path, key_path)
        except MismatchedPair:
            time.sleep(pause)
    return _read_once(cert_path, key_path)
