"""CNI results in every supported version's format, errors, and prevResult parsing.

The ADD result has the shape of the reference ptp + host-local chain: the host
veth (name, mac), the pod interface (name, mac, sandbox), one address per
family on interface 1 with the gateway, a default route, and empty dns.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from netagent.cni.errors import CniError, ErrorCode
from netagent.cni.versions import SUPPORTED_VERSIONS, at_least

IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

DEFAULT_ROUTES = {4: "0.0.0.0/0", 6: "::/0"}


@dataclass(frozen=True)
class InterfaceInfo:
    name: str
    mac: str = ""
    sandbox: str = ""
    mtu: int | None = None


@dataclass(frozen=True)
class IpConfig:
    address: IPInterface
    gateway: IPAddress | None = None
    interface: int | None = None


@dataclass(frozen=True)
class RouteInfo:
    dst: IPNetwork
    gw: IPAddress | None = None


@dataclass(frozen=True)
class AddResult:
    """A CNI result, version-independent. Also what a prevResult normalises to."""

    interfaces: tuple[InterfaceInfo, ...] = ()
    ips: tuple[IpConfig, ...] = ()
    routes: tuple[RouteInfo, ...] = ()
    dns: Mapping[str, Any] | None = None

    def interface_named(self, name: str, in_sandbox: bool = True) -> InterfaceInfo | None:
        """The (sandbox, by default) interface called name, if the result lists it."""
        for interface in self.interfaces:
            if interface.name == name and bool(interface.sandbox) == in_sandbox:
                return interface
        return None

    def addresses_on(self, name: str) -> tuple[IPInterface, ...]:
        """Addresses the result assigns to the sandbox interface called name."""
        indexes = {
            index
            for index, interface in enumerate(self.interfaces)
            if interface.name == name and interface.sandbox
        }
        return tuple(ip.address for ip in self.ips if ip.interface in indexes)


# What CHECK and chained plugins read out of prevResult.
ExpectedAttachment = AddResult


def pod_attachment_result(
    host_ifname: str,
    host_mac: str,
    pod_ifname: str,
    pod_mac: str,
    sandbox: str,
    addresses: Sequence[IPInterface],
    gateways: Sequence[IPAddress],
    mtu: int | None = None,
) -> AddResult:
    """The result of one podnet ADD: host veth at index 0, pod interface at index 1."""
    routes = tuple(
        RouteInfo(ipaddress.ip_network(DEFAULT_ROUTES[address.version])) for address in addresses
    )
    return AddResult(
        interfaces=(
            InterfaceInfo(host_ifname, host_mac, mtu=mtu),
            InterfaceInfo(pod_ifname, pod_mac, sandbox, mtu=mtu),
        ),
        ips=tuple(
            IpConfig(address, gateway, interface=1)
            for address, gateway in zip(addresses, gateways, strict=True)
        ),
        routes=routes,
        dns={},
    )


def result_document(cni_version: str, result: AddResult) -> dict[str, Any]:
    """The result as a JSON-ready dict in cni_version's format."""
    if cni_version not in SUPPORTED_VERSIONS:
        raise CniError(ErrorCode.INCOMPATIBLE_CNI_VERSION, f"cannot encode {cni_version!r}")
    per_ip_version = not at_least(cni_version, "1.0.0")
    interface_mtu = at_least(cni_version, "1.1.0")
    document: dict[str, Any] = {"cniVersion": cni_version}
    if result.interfaces:
        document["interfaces"] = [
            _interface_document(interface, interface_mtu) for interface in result.interfaces
        ]
    if result.ips:
        document["ips"] = [_ip_document(ip, per_ip_version) for ip in result.ips]
    if result.routes:
        document["routes"] = [_route_document(route) for route in result.routes]
    document["dns"] = dict(result.dns or {})
    return document


def encode_result(cni_version: str, result: AddResult) -> bytes:
    return json.dumps(result_document(cni_version, result), separators=(",", ":")).encode()


def encode_error(cni_version: str, error: CniError) -> bytes:
    """The error JSON printed on stdout with a non-zero exit."""
    version = cni_version if cni_version in SUPPORTED_VERSIONS else SUPPORTED_VERSIONS[-1]
    document = {"cniVersion": version, "code": error.code, "msg": error.msg}
    document["details"] = error.details
    return json.dumps(document, separators=(",", ":")).encode()


def _interface_document(interface: InterfaceInfo, with_mtu: bool) -> dict[str, Any]:
    document: dict[str, Any] = {"name": interface.name}
    if interface.mac:
        document["mac"] = interface.mac
    if with_mtu and interface.mtu:
        document["mtu"] = interface.mtu
    if interface.sandbox:
        document["sandbox"] = interface.sandbox
    return document


def _ip_document(ip: IpConfig, per_ip_version: bool) -> dict[str, Any]:
    document: dict[str, Any] = {}
    if per_ip_version:
        document["version"] = str(ip.address.version)
    if ip.interface is not None:
        document["interface"] = ip.interface
    document["address"] = ip.address.with_prefixlen
    if ip.gateway is not None:
        document["gateway"] = str(ip.gateway)
    return document


def _route_document(route: RouteInfo) -> dict[str, Any]:
    document: dict[str, Any] = {"dst": route.dst.with_prefixlen}
    if route.gw is not None:
        document["gw"] = str(route.gw)
    return document


def parse_prev_result(prev_result: Mapping[str, Any], cni_version: str) -> ExpectedAttachment:
    """Normalises a prevResult of any supported version; raises CniError (code 7)."""
    version = prev_result.get("cniVersion", cni_version)
    if version not in SUPPORTED_VERSIONS:
        raise CniError(
            ErrorCode.INCOMPATIBLE_CNI_VERSION, f"prevResult has unsupported cniVersion {version!r}"
        )
    try:
        interfaces = tuple(
            InterfaceInfo(
                name=_string(item, "name", required=True),
                mac=_string(item, "mac"),
                sandbox=_string(item, "sandbox"),
                mtu=item.get("mtu") if isinstance(item.get("mtu"), int) else None,
            )
            for item in _list(prev_result, "interfaces")
        )
        ips = tuple(_parse_ip(item, len(interfaces)) for item in _list(prev_result, "ips"))
        routes = tuple(
            RouteInfo(
                dst=ipaddress.ip_network(_string(item, "dst", required=True), strict=False),
                gw=ipaddress.ip_address(item["gw"]) if item.get("gw") else None,
            )
            for item in _list(prev_result, "routes")
        )
    except (TypeError, ValueError, AttributeError) as error:
        raise CniError(
            ErrorCode.INVALID_NETWORK_CONFIG, "malformed prevResult", str(error)
        ) from error
    dns = prev_result.get("dns")
    return ExpectedAttachment(
        interfaces=interfaces, ips=ips, routes=routes, dns=dns if isinstance(dns, dict) else {}
    )


def _parse_ip(item: Mapping[str, Any], interface_count: int) -> IpConfig:
    address = ipaddress.ip_interface(_string(item, "address", required=True))
    declared = item.get("version")
    if declared is not None and declared != str(address.version):
        raise ValueError(f"ip {address} declares version {declared!r}")
    interface = item.get("interface")
    if interface is not None and (
        isinstance(interface, bool)
        or not isinstance(interface, int)
        or not 0 <= interface < interface_count
    ):
        raise ValueError(f"ip {address} names interface {interface!r} that is not in the result")
    gateway = ipaddress.ip_address(item["gateway"]) if item.get("gateway") else None
    return IpConfig(address, gateway, interface)


def _list(document: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    value = document.get(key) or []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise ValueError(f"{key} is not a list of objects")
    return value


def _string(item: Mapping[str, Any], key: str, required: bool = False) -> str:
    value = item.get(key, "")
    if not isinstance(value, str) or (required and not value):
        raise ValueError(f"{key} must be a {'non-empty ' if required else ''}string")
    return value
