"""What each role's certificate may do: serve TLS, present itself as a TLS client, or both."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from podnet.tls.identity import Role


class Serving(enum.Enum):
    NEVER = "never"  # no serverAuth; refuses --dns/--ip
    ALWAYS = "always"  # serverAuth; needs DNS or IP SANs clients can verify
    WITH_ADDRESSES = "with addresses"  # serverAuth when given --dns/--ip, else client only


@dataclass(frozen=True)
class RoleProfile:
    serving: Serving
    client: bool  # clientAuth EKU

    def serves(self, has_addresses: bool) -> bool:
        """Whether a certificate of this role, with or without SANs, gets serverAuth."""
        return self.serving is Serving.ALWAYS or (
            self.serving is Serving.WITH_ADDRESSES and has_addresses
        )


PROFILES: dict[Role, RoleProfile] = {
    # An agent calls ipamd, and serves its admin service (podnetctl) at its node IP.
    Role.NODE: RoleProfile(Serving.WITH_ADDRESSES, client=True),
    Role.IPAMD: RoleProfile(Serving.ALWAYS, client=False),
    Role.ADMIN: RoleProfile(Serving.NEVER, client=True),
    # A member serves clients and peers and dials its peers as a client.
    Role.ETCD: RoleProfile(Serving.ALWAYS, client=True),
    Role.ETCD_CLIENT: RoleProfile(Serving.NEVER, client=True),
}


def etcd_peer_hostname(trust_domain: str) -> str:
    """The DNS SAN every etcd member's certificate carries, so that members can require it
    of their peers (etcd --peer-cert-allowed-hostname): other identities of the same CA
    then cannot speak raft to a member."""
    return f"etcd-peer.{trust_domain}"
