"""What `podnetctl certs init|issue|renew` do, callable without the command line (the lab
and the tests make their certificates with these)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from cryptography import x509
from podnet.tls.certificates import spiffe_id_of, subject_alt_names
from podnet.tls.errors import TlsError
from podnet.tls.identity import DEFAULT_TRUST_DOMAIN, Role, SpiffeId, check_name

from podnetctl.certs.authority import CertificateAuthority, LeafRequest, new_key
from podnetctl.certs.profiles import etcd_peer_hostname
from podnetctl.certs.store import CertificateStore, LeafPaths
from podnetctl.certs.validity import CA_DAYS, LEAF_DAYS, Validity
from podnetctl.errors import CommandError


def _validity(days: int) -> Validity:
    try:
        return Validity.days_from_now(days)
    except ValueError as error:
        raise CommandError(str(error)) from None


def init_ca(
    store: CertificateStore,
    trust_domain: str = DEFAULT_TRUST_DOMAIN,
    days: int = CA_DAYS,
    force: bool = False,
) -> CertificateAuthority:
    """A new CA in store; refuses to replace one unless force (which orphans every
    certificate the old CA signed)."""
    check_name(trust_domain, "trust domain")
    if store.has_ca() and not force:
        raise CommandError(
            f"{store.root} already has a CA; --force replaces it and every certificate it "
            "signed stops being trusted"
        )
    authority = CertificateAuthority.create(trust_domain, _validity(days))
    store.save_ca(authority)
    return authority


def parse_ip(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        raise CommandError(f"{text!r} is not an IP address") from None


def issue(
    store: CertificateStore,
    role: Role,
    name: str,
    dns_names: Sequence[str] = (),
    ip_addresses: Sequence[str] = (),
    days: int = LEAF_DAYS,
    force: bool = False,
) -> LeafPaths:
    """A new key and certificate for role/name, signed by the store's CA."""
    authority = store.load_ca()
    identity = SpiffeId(authority.trust_domain, role, name)
    paths = store.leaf(role, name)
    if (paths.cert.exists() or paths.key.exists()) and not force:
        raise CommandError(
            f"{paths.cert} already exists: `podnetctl certs renew` extends it, --force replaces it"
        )
    request = LeafRequest(
        identity, tuple(dns_names), tuple(parse_ip(address) for address in ip_addresses)
    )
    return _sign_and_save(store, authority, request, days)


def renew(store: CertificateStore, role: Role, name: str, days: int = LEAF_DAYS) -> LeafPaths:
    """A new key and certificate for role/name with the same SANs, valid from now."""
    authority = store.load_ca()
    previous = store.load_leaf_certificate(role, name)
    try:
        identity = spiffe_id_of(previous)
    except TlsError as error:
        raise CommandError(f"{store.leaf(role, name).cert}: {error}") from None
    if identity != SpiffeId(authority.trust_domain, role, name):
        raise CommandError(
            f"{store.leaf(role, name).cert} is {identity}, not {role.value}/{name} of "
            f"trust domain {authority.trust_domain}"
        )
    return _sign_and_save(store, authority, _same_names(identity, previous), days)


def _same_names(identity: SpiffeId, previous: x509.Certificate) -> LeafRequest:
    names = subject_alt_names(previous)
    implied = {etcd_peer_hostname(identity.trust_domain)} if identity.role is Role.ETCD else set()
    dns_names = [name for name in names.get_values_for_type(x509.DNSName) if name not in implied]
    ip_addresses = [
        address
        for address in names.get_values_for_type(x509.IPAddress)
        if isinstance(address, ipaddress.IPv4Address | ipaddress.IPv6Address)
    ]
    return LeafRequest(identity, tuple(dns_names), tuple(ip_addresses))


def _sign_and_save(
    store: CertificateStore, authority: CertificateAuthority, request: LeafRequest, days: int
) -> LeafPaths:
    key = new_key()
    certificate = authority.issue(request, _validity(days), key)
    return store.save_leaf(request.identity, certificate, key)
