"""The lab's and the tests' podnet CA: a certificate directory made with podnetctl's code,
with certificates issued on first use and reused after."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from podnet.tls.files import TlsFiles
from podnet.tls.identity import DEFAULT_TRUST_DOMAIN, Role

from podnetctl.certs import commands
from podnetctl.certs.profiles import etcd_peer_hostname
from podnetctl.certs.store import CertificateStore
from podnetctl.etcd_access import DEFAULT_USER, ROOT

IPAMD_ETCD_USER = DEFAULT_USER
LAB_OPERATOR = "lab-operator"  # the admin identity podnet-lab hands to podnetctl


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

    def node(self, name: str, node_ip: str) -> TlsFiles:
        """An agent's pair: it calls ipamd and serves its admin service at node_ip."""
        return self.files(Role.NODE, name, ips=[node_ip])

    def admin(self) -> TlsFiles:
        """The operator's identity, for podnetctl."""
        return self.files(Role.ADMIN, LAB_OPERATOR)

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
