"""ipamd configuration: frozen dataclasses built once by the command line and passed in."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ipamd.errors import ConfigError

DEFAULT_HTTP_PORT = 9601


@dataclass(frozen=True)
class EtcdAddress:
    host: str
    port: int

    def __str__(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True)
class ClusterConfig:
    """What every ipamd replica sharing one etcd prefix must agree on."""

    cluster_cidr: ipaddress.IPv4Network
    node_prefix_length: int

    def __post_init__(self) -> None:
        if not self.cluster_cidr.prefixlen <= self.node_prefix_length <= 30:
            raise ConfigError(
                f"node prefix length /{self.node_prefix_length} must be between the cluster "
                f"CIDR's /{self.cluster_cidr.prefixlen} and /30"
            )


@dataclass(frozen=True)
class IpamConfig:
    listen: str
    etcd_endpoints: tuple[EtcdAddress, ...]
    etcd_prefix: str
    cluster: ClusterConfig
    node_lease_ttl: int
    quarantine_seconds: float
    etcd_timeout: float = 5.0
    log_level: str = "INFO"
    http_host: str = "0.0.0.0"
    http_port: int = DEFAULT_HTTP_PORT

    def __post_init__(self) -> None:
        if not self.etcd_endpoints:
            raise ConfigError("at least one etcd endpoint is required")
        if not self.etcd_prefix.startswith("/") or self.etcd_prefix.endswith("/"):
            raise ConfigError(
                f"etcd prefix {self.etcd_prefix!r} must start with '/' and not end with '/'"
            )
        if self.node_lease_ttl < 1:
            raise ConfigError("node lease TTL must be at least 1 second")
        if self.quarantine_seconds < 0:
            raise ConfigError("quarantine must not be negative")
        if self.etcd_timeout <= 0:
            raise ConfigError("etcd timeout must be positive")
        if not 0 <= self.http_port < 65536:
            raise ConfigError(f"HTTP port {self.http_port} is not between 0 and 65535")

    @property
    def reconcile_interval(self) -> float:
        """How often the reclaimer looks for silent nodes: a fraction of the shortest timer."""
        return max(0.2, min(self.node_lease_ttl, self.quarantine_seconds or 1.0) / 4)
