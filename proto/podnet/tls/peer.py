"""Who is calling: the podnet identity in the client certificate a gRPC server verified."""

from __future__ import annotations

import datetime
import functools
from collections.abc import Iterable, Mapping
from typing import Protocol

from podnet.tls.certificates import parse_pem_certificates, spiffe_id_of
from podnet.tls.errors import InvalidIdentity
from podnet.tls.identity import SpiffeId

# The verified peer certificate as gRPC's auth context names it (PEM, leaf only).
PEER_CERTIFICATE_PROPERTY = "x509_pem_cert"


class AuthContextHolder(Protocol):
    """grpc.ServicerContext and grpc.aio.ServicerContext both have this."""

    def auth_context(self) -> Mapping[str, Iterable[bytes]]: ...


@functools.lru_cache(maxsize=1024)
def _identity_of_pem(pem: bytes) -> tuple[SpiffeId, datetime.datetime]:
    certificate = parse_pem_certificates(pem, "peer certificate")[0]
    return spiffe_id_of(certificate), certificate.not_valid_after_utc


def peer_identity(
    context: AuthContextHolder, trust_domain: str, now: datetime.datetime | None = None
) -> SpiffeId:
    """The caller's identity; InvalidIdentity when the connection carries no client
    certificate, one without a podnet identity of trust_domain, or one that has expired
    since the handshake (a connection outlives the certificate it was opened with)."""
    pems = list(context.auth_context().get(PEER_CERTIFICATE_PROPERTY, ()))
    if not pems:
        raise InvalidIdentity("the caller presented no client certificate")
    identity, not_after = _identity_of_pem(pems[0])
    if identity.trust_domain != trust_domain:
        raise InvalidIdentity(f"caller {identity} is not of trust domain {trust_domain}")
    if (now or datetime.datetime.now(datetime.UTC)) > not_after:
        raise InvalidIdentity(
            f"the certificate of {identity} expired at {not_after.isoformat()}: "
            "reconnect with a renewed one"
        )
    return identity
