"""What each role's certificate may do: serve TLS, present itself as a TLS client, or both."""

from __future__ import annotations

from dataclasses import dataclass

from podnet.tls.identity import Role


@dataclass(frozen=True)
class RoleProfile:
    server: bool  # serverAuth EKU; needs DNS or IP SANs clients can verify
    client: bool  # clientAuth EKU


PROFILES: dict[Role, RoleProfile] = {
    Role.NODE: RoleProfile(server=False, client=True),
    Role.IPAMD: RoleProfile(server=True, client=False),
    Role.ADMIN: RoleProfile(server=False, client=True),
    # A member serves clients and peers and dials its peers as a client.
    Role.ETCD: RoleProfile(server=True, client=True),
    Role.ETCD_CLIENT: RoleProfile(server=False, client=True),
}


def etcd_peer_hostname(trust_domain: str) -> str:
    """The DNS SAN every etcd member's certificate carries, so that members can require it
    of their peers (etcd --peer-cert-allowed-hostname): other identities of the same CA
    then cannot speak raft to a member."""
    return f"etcd-peer.{trust_domain}"
