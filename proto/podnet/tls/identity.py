"""podnet identities: `spiffe://<trust-domain>/<role>/<name>` in a certificate's URI SAN.

Pure: imports no cryptography or grpc, so every program may use it to name things.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from podnet.tls.errors import InvalidIdentity

DEFAULT_TRUST_DOMAIN = "podnet.local"
SPIFFE_SCHEME = "spiffe://"

# A DNS-1123 subdomain, as Kubernetes node names are: lowercase labels joined by dots.
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_MAX_NAME = 253


class Role(enum.StrEnum):
    NODE = "node"  # a node agent; name = the node's name
    IPAMD = "ipamd"  # an ipamd replica
    ADMIN = "admin"  # an operator
    ETCD = "etcd"  # an etcd member, as server and as peer
    ETCD_CLIENT = "etcd-client"  # a client of etcd; name = CN = etcd user


def check_name(name: str, what: str = "name") -> str:
    """Returns name if it is a DNS-1123 subdomain; raises InvalidIdentity otherwise."""
    if len(name) > _MAX_NAME or not _DNS_SUBDOMAIN.fullmatch(name):
        raise InvalidIdentity(
            f"{what} {name!r} must be lowercase letters, digits, '-' and '.', "
            f"start and end with a letter or digit, at most {_MAX_NAME} characters"
        )
    return name


def parse_role(text: str) -> Role:
    try:
        return Role(text)
    except ValueError:
        known = ", ".join(role.value for role in Role)
        raise InvalidIdentity(f"unknown role {text!r} (known: {known})") from None


@dataclass(frozen=True)
class SpiffeId:
    trust_domain: str
    role: Role
    name: str

    def __post_init__(self) -> None:
        check_name(self.trust_domain, "trust domain")
        check_name(self.name)

    @property
    def uri(self) -> str:
        return f"{SPIFFE_SCHEME}{self.trust_domain}/{self.role.value}/{self.name}"

    def __str__(self) -> str:
        return self.uri

    @classmethod
    def parse(cls, uri: str) -> SpiffeId:
        """The identity in uri; InvalidIdentity unless it is spiffe://<domain>/<role>/<name>."""
        if not uri.startswith(SPIFFE_SCHEME):
            raise InvalidIdentity(f"{uri!r} is not a spiffe:// URI")
        parts = uri[len(SPIFFE_SCHEME) :].split("/")
        if len(parts) != 3:
            raise InvalidIdentity(f"{uri!r} is not spiffe://<trust-domain>/<role>/<name>")
        trust_domain, role, name = parts
        return cls(check_name(trust_domain, "trust domain"), parse_role(role), name)


def trust_domain_uri(trust_domain: str) -> str:
    """The SPIFFE ID of a trust domain itself, as its CA certificate carries it."""
    return f"{SPIFFE_SCHEME}{check_name(trust_domain, 'trust domain')}"
