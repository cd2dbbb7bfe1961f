"""The lab's and the tests' podnet CA: a certificate directory made with podnetctl's code,
with certificates issued on first use and reused after."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from podnet.tls.files import TlsFiles
from podnet.tls.identity import DEFAULT_TRUST_DOMAIN, Role, SpiffeId

from podnetctl.certs import commands
from podnetctl.certs.authority import LeafRequest, new_key
from podnetctl.certs.profiles import etcd_peer_hostname
from podnetctl.certs.store import CertificateStore
from podnetctl.certs.validity import Validity
from podnetctl.etcd_access import DEFAULT_USER, ROOT

IPAMD_ETCD_USER = DEFAULT_USER
IPAMD_NAME = "ipamd"
ADMIN_NAME = "admin"  # the operator identity podnet-lab makes (podnetctl, grpcurl)


@dataclass(frozen=True)
class EtcdMemberTls:
    """What an etcd member needs: its pair (serving clients and peers, dialing peers), the
    CA, and the DNS SAN it demands of peers so that no other identity can speak raft."""

    files: TlsFiles
    peer_hostname: str


class LabPki:
    def __init__(self, root: Path, trust_domain: str = DEFAULT_TRUST_DOMAIN) -> None:
        self.store = CertificateStore(root)
        self.trust_domain = trust_domain
        if not self.store.has_ca():
            commands.init_ca(self.store, trust_domain)

    @property
    def ca(self) -> Path:
        return self.store.ca_cert

    def files(
        self, role: Role, name: str, dns_names: Sequence[str] = (), ips: Sequence[str] = ()
    ) -> TlsFiles:
        """role/name's files, issued with these SANs if they do not exist yet."""
        paths = self.store.leaf(role, name)
        if not paths.cert.exists():
            commands.issue(self.store, role, name, dns_names, ips)
        return TlsFiles(self.ca, paths.cert, paths.key)

    def etcd_member(self, name: str, host: str) -> EtcdMemberTls:
        return EtcdMemberTls(
            self.files(Role.ETCD, name, ips=[host]), etcd_peer_hostname(self.trust_domain)
        )

    def node(self, name: str, node_ip: str | None = None) -> TlsFiles:
        """An agent's pair: it calls ipamd, and with node_ip also serves its admin service
        there (the certificate then names the address)."""
        return self.files(Role.NODE, name, ips=[node_ip] if node_ip else [])

    def etcd_root(self) -> TlsFiles:
        """etcd's administrator (RBAC), kept out of every daemon."""
        return self.files(Role.ETCD_CLIENT, ROOT)

    def ipamd_etcd_client(self) -> TlsFiles:
        return self.files(Role.ETCD_CLIENT, IPAMD_ETCD_USER)

    def ipamd_etcd_flags(self) -> list[str]:
        files = self.ipamd_etcd_client()
        return [
            "--etcd-ca",
            str(files.ca),
            "--etcd-cert",
            str(files.cert),
            "--etcd-key",
            str(files.key),
        ]

    def ipamd_server(self, ips: Sequence[str]) -> TlsFiles:
        """ipamd's serving pair (its certificate names the addresses agents dial); the CA
        of these files is the one callers' certificates must chain to."""
        return self.files(Role.IPAMD, IPAMD_NAME, ips=ips)

    def admin(self) -> TlsFiles:
        """The operator's identity (podnetctl, grpcurl): lists and releases anything,
        allocates nothing."""
        return self.files(Role.ADMIN, ADMIN_NAME)

    def renew(self, role: Role, name: str) -> TlsFiles:
        """A new key and certificate for role/name, replacing the files as podnetctl
        certs renew does."""
        commands.renew(self.store, role, name)
        return self.files(role, name)

    def expire(self, role: Role, name: str) -> TlsFiles:
        """Replaces role/name's pair with one that expired yesterday (client roles only),
        to show what peers do with an expired certificate."""
        authority = self.store.load_ca()
        identity = SpiffeId(authority.trust_domain, role, name)
        now = datetime.datetime.now(datetime.UTC)
        past = Validity(now - datetime.timedelta(days=30), now - datetime.timedelta(days=1))
        key = new_key()
        self.store.save_leaf(identity, authority.issue(LeafRequest(identity), past, key), key)
        return self.files(role, name)

    def ipamd_tls_flags(self, ips: Sequence[str]) -> list[str]:
        files = self.ipamd_server(ips)
        return [
            "--tls-cert", str(files.cert),
            "--tls-key", str(files.key),
            "--tls-client-ca", str(files.ca),
        ]  # fmt: skip

    def node_tls_flags(self, name: str) -> list[str]:
        files = self.node(name)
        return [
            "--tls-cert",
            str(files.cert),
            "--tls-key",
            str(files.key),
            "--tls-ca",
            str(files.ca),
        ]
