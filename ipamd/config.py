"""ipamd configuration: frozen dataclasses built once from the command line and passed in.

argparse parses the flags; each dataclass checks its values when it is built and
raises ConfigError with one line naming the flag.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field

from podnet.tls.paths import TlsFiles

from ipamd.errors import ConfigError
from ipamd.limits import Limits

DEFAULT_HTTP_PORT = 9601


def split_host_port(text: str, flag: str) -> tuple[str, int]:
    """'HOST:PORT' (or '[v6]:PORT') as (host, port); ConfigError when not that shape."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not host.strip("[]") or not port.isdigit():
        raise ConfigError(f"{flag}: {text!r} is not HOST:PORT")
    return host.strip("[]"), int(port)


@dataclass(frozen=True)
class EtcdAddress:
    host: str
    port: int

    def __post_init__(self) -> None:
        if not self.host or not 0 < self.port < 65536:
            raise ConfigError(f"--etcd: {self.host}:{self.port} is not HOST:PORT")

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
                f"--node-prefix-length: /{self.node_prefix_length} must be between the "
                f"cluster CIDR's /{self.cluster_cidr.prefixlen} and /30"
            )


@dataclass(frozen=True)
class ServerTls:
    files: TlsFiles  # files.ca: the CA bundle callers' certificates must chain to
    trust_domain: str


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
    # The CA of etcd's certificates and ipamd's client pair; None: plaintext, which the
    # command line allows only with --etcd-insecure-plaintext.
    etcd_tls: TlsFiles | None = None
    http_host: str = "0.0.0.0"
    http_port: int = DEFAULT_HTTP_PORT
    # Seconds between compaction passes (0: ipamd never compacts) and of history kept.
    compaction_interval: float = 300.0
    compaction_retention: float = 300.0
    # ipamd's serving pair and its callers' CA; None: plaintext gRPC, which the command
    # line allows only with --insecure-plaintext.
    server_tls: ServerTls | None = None
    limits: Limits = field(default_factory=Limits)

    def __post_init__(self) -> None:
        _, port = split_host_port(self.listen, "--listen")
        if port > 65535:
            raise ConfigError(f"--listen: port {port} is not between 0 and 65535")
        if not self.etcd_endpoints:
            raise ConfigError("--etcd: at least one etcd endpoint is required")
        if not self.etcd_prefix.startswith("/") or self.etcd_prefix.endswith("/"):
            raise ConfigError(
                f"--etcd-prefix: {self.etcd_prefix!r} must start with '/' and not end with '/'"
            )
        if self.node_lease_ttl < 1:
            raise ConfigError("--node-lease-ttl: must be at least 1 second")
        if not self.quarantine_seconds >= 0:  # also NaN
            raise ConfigError("--quarantine: must not be negative")
        if not self.etcd_timeout > 0:
            raise ConfigError("--etcd-timeout: must be positive")
        if not 0 <= self.http_port < 65536:
            raise ConfigError(f"--http-port: {self.http_port} is not between 0 and 65535")
        if not 0 <= self.compaction_interval < float("inf"):
            raise ConfigError("--compaction-interval: must be 0 (off) or a positive number")
        if not 0 <= self.compaction_retention < float("inf"):
            raise ConfigError("--compaction-retention: must not be negative")

    @property
    def reconcile_interval(self) -> float:
        """How often the reclaimer looks for silent nodes: a fraction of the shortest timer."""
        return max(0.2, min(self.node_lease_ttl, self.quarantine_seconds or 1.0) / 4)
