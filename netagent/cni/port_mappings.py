"""runtimeConfig.portMappings (the portMappings capability) as typed host port rules.

Runtimes spell the keys differently: podman sends `hostPort`, containerd's CRI
`HostPort`. Mappings for another address family (an IPv6 hostIP) are skipped,
as the reference portmap plugin skips them for a family it does not handle.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from netagent.cni.errors import CniError, ErrorCode

PROTOCOLS = ("tcp", "udp", "sctp")


@dataclass(frozen=True, order=True)
class PortMapping:
    protocol: str
    host_port: int
    container_port: int
    host_ip: ipaddress.IPv4Address | None = None  # None: every local address


def _field(entry: Mapping[str, Any], name: str) -> Any:
    return entry.get(name, entry.get(name[0].upper() + name[1:]))


def _port(entry: Mapping[str, Any], name: str) -> int:
    value = _field(entry, name)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value < 65536:
        raise CniError(
            ErrorCode.INVALID_NETWORK_CONFIG,
            f"portMappings: {name} must be a port number 1-65535",
            repr(dict(entry)),
        )
    return value


def _parse_one(entry: Any) -> PortMapping | None:
    if not isinstance(entry, Mapping):
        raise CniError(ErrorCode.INVALID_NETWORK_CONFIG, "portMappings: entries must be objects")
    protocol = str(_field(entry, "protocol") or "tcp").lower()
    if protocol not in PROTOCOLS:
        raise CniError(
            ErrorCode.INVALID_NETWORK_CONFIG,
            f"portMappings: unsupported protocol {protocol!r}",
            "supported: " + ", ".join(PROTOCOLS),
        )
    raw_ip = _field(entry, "hostIP") or ""
    host_ip: ipaddress.IPv4Address | None = None
    if raw_ip:
        try:
            address = ipaddress.ip_address(raw_ip)
        except ValueError:
            raise CniError(
                ErrorCode.INVALID_NETWORK_CONFIG, f"portMappings: bad hostIP {raw_ip!r}"
            ) from None
        if address.version == 6:
            return None
        host_ip = None if address.is_unspecified else ipaddress.IPv4Address(address)
    return PortMapping(protocol, _port(entry, "hostPort"), _port(entry, "containerPort"), host_ip)


def parse_port_mappings(runtime_config: Mapping[str, Any]) -> tuple[PortMapping, ...]:
    raw = runtime_config.get("portMappings")
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise CniError(ErrorCode.INVALID_NETWORK_CONFIG, "runtimeConfig.portMappings is not a list")
    mappings = [m for m in (_parse_one(entry) for entry in raw) if m is not None]
    keys = [(m.protocol, m.host_port, m.host_ip) for m in mappings]
    if len(set(keys)) != len(keys):
        raise CniError(
            ErrorCode.INVALID_NETWORK_CONFIG, "portMappings: the same host port is mapped twice"
        )
    return tuple(sorted(mappings, key=lambda m: (m.protocol, m.host_port, str(m.host_ip))))
