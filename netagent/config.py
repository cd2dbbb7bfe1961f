"""The agent's configuration: command-line flags into a frozen dataclass."""

from __future__ import annotations

import argparse
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from podnet.shim.defaults import DEFAULT_AGENT_SOCKET, DEFAULT_SPOOL_DIR

from netagent.server.internal_sockets import MAX_UNIX_SOCKET_PATH, longest_path, refused_socket


class ConfigError(Exception):
    """A flag value the agent cannot run with."""


@dataclass(frozen=True)
class AgentConfig:
    node_name: str
    node_ip: ipaddress.IPv4Address
    ipamd_address: str
    socket_path: Path
    cni_allowed_uid: int | None
    spool_dir: Path
    cni_conf_dir: Path
    cni_conf_file: str
    remove_conf_on_exit: bool
    http_host: str
    http_port: int
    mtu: int | None
    masquerade: bool
    ipamd_timeout: float
    log_level: str

    @property
    def conflist_path(self) -> Path:
        return self.cni_conf_dir / self.cni_conf_file

    @property
    def cni_allowed_uids(self) -> frozenset[int]:
        """Callers the CNI socket serves: root, and the configured uid if any."""
        return frozenset({0} if self.cni_allowed_uid is None else {0, self.cni_allowed_uid})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="podnet-agent",
        description="podnet's per-node agent: serves the CNI shim on a unix socket, "
        "wires pods with veth pairs and routes, follows peer node ranges from ipamd.",
    )
    add = parser.add_argument
    add("--node-name", required=True, help="this node's name, unique in the cluster")
    add("--node-ip", required=True, help="IPv4 address peers route this node's pod range through")
    add("--ipamd", required=True, metavar="HOST:PORT", help="address of ipamd's gRPC endpoint")
    add(
        "--socket",
        default=DEFAULT_AGENT_SOCKET,
        help="unix socket the CNI shim calls "
        "(created mode 0600; its directory mode 0700) [%(default)s]",
    )
    add(
        "--cni-allowed-uid",
        type=int,
        default=None,
        metavar="UID",
        help="a uid besides 0 whose processes may call the CNI socket; any other caller "
        "gets PERMISSION_DENIED (checked with SO_PEERCRED) (default: root only)",
    )
    add(
        "--spool-dir",
        default=DEFAULT_SPOOL_DIR,
        help="where DELs that could not be completed are recorded for replay [%(default)s]",
    )
    add(
        "--cni-conf-dir",
        default="/etc/cni/net.d",
        help="directory the CNI conflist is written to [%(default)s]",
    )
    add("--cni-conf-file", default="10-podnet.conflist", help="conflist file name [%(default)s]")
    add(
        "--remove-conf-on-exit",
        action="store_true",
        help="remove the conflist on clean shutdown (default: leave it)",
    )
    add(
        "--http-listen",
        default="127.0.0.1:9610",
        metavar="HOST:PORT",
        help="health (/healthz, /readyz) and Prometheus /metrics endpoint [%(default)s]",
    )
    add(
        "--mtu",
        type=int,
        default=None,
        help="pod interface MTU (default: MTU of the node's default-route interface, else 1500)",
    )
    add(
        "--no-masquerade",
        action="store_true",
        help="do not masquerade pod traffic leaving the cluster CIDR",
    )
    add(
        "--ipamd-timeout",
        type=float,
        default=5.0,
        help="deadline in seconds for each call to ipamd [%(default)s]",
    )
    add(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="[%(default)s]",
    )
    return parser


def _host_port(value: str, flag: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"{flag}: expected HOST:PORT, got {value!r}")
    return host, int(port)


def parse_config(argv: Sequence[str] | None = None) -> AgentConfig:
    args = build_parser().parse_args(argv)
    try:
        node_ip = ipaddress.IPv4Address(args.node_ip)
    except ValueError:
        raise ConfigError(f"--node-ip: not an IPv4 address: {args.node_ip!r}") from None
    _host_port(args.ipamd, "--ipamd")
    http_host, http_port = _host_port(args.http_listen, "--http-listen")
    if args.mtu is not None and not 576 <= args.mtu <= 65535:
        raise ConfigError(f"--mtu: must be between 576 and 65535, got {args.mtu}")
    if not args.node_name or "/" in args.node_name:
        raise ConfigError(f"--node-name: invalid node name {args.node_name!r}")
    if "/" in args.cni_conf_file or not args.cni_conf_file.endswith((".conflist", ".conf")):
        raise ConfigError(
            f"--cni-conf-file: must be a file name ending in .conflist, got {args.cni_conf_file!r}"
        )
    if args.ipamd_timeout <= 0:
        raise ConfigError("--ipamd-timeout: must be positive")
    if args.cni_allowed_uid is not None and not 0 <= args.cni_allowed_uid < 2**32 - 1:
        raise ConfigError(f"--cni-allowed-uid: not a uid: {args.cni_allowed_uid}")
    socket_path = Path(args.socket)
    if longest_path(socket_path) > MAX_UNIX_SOCKET_PATH:
        raise ConfigError(
            f"--socket: {socket_path} is too long: the agent also listens on "
            f"{refused_socket(socket_path)}, and unix socket paths are limited to "
            f"{MAX_UNIX_SOCKET_PATH} bytes"
        )
    return AgentConfig(
        node_name=args.node_name,
        node_ip=node_ip,
        ipamd_address=args.ipamd,
        socket_path=socket_path,
        cni_allowed_uid=args.cni_allowed_uid,
        spool_dir=Path(args.spool_dir),
        cni_conf_dir=Path(args.cni_conf_dir),
        cni_conf_file=args.cni_conf_file,
        remove_conf_on_exit=args.remove_conf_on_exit,
        http_host=http_host,
        http_port=http_port,
        mtu=args.mtu,
        masquerade=not args.no_masquerade,
        ipamd_timeout=args.ipamd_timeout,
        log_level=args.log_level,
    )
