"""The agent's configuration: argparse parses the flags, the frozen AgentConfig checks
them when it is built (ConfigError, one line naming the flag)."""

from __future__ import annotations

import argparse
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from podnet.cli import OneLineArgumentParser
from podnet.shim.defaults import DEFAULT_AGENT_SOCKET, DEFAULT_SPOOL_DIR
from podnet.tls.files import TlsFiles

from netagent.errors import ConfigError
from netagent.mtu import MAX_MTU, MIN_MTU
from netagent.server.internal_sockets import MAX_UNIX_SOCKET_PATH, longest_path, refused_socket


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
    # The node's CA bundle and pair (node/<name>) for its admin service; None: no admin
    # service (the same files as ipamd_tls: one identity per node).
    tls: TlsFiles | None = None
    # Where the read-only admin service (AgentAdmin, mutual TLS) listens; None: off.
    admin_listen: str | None = None
    admin_listen_given: bool = False  # set explicitly: failing to serve it is fatal
    # The podnet CA (ipamd's certificate must chain to it) and this node's pair; None:
    # plaintext, which the command line allows only with --insecure-plaintext.
    ipamd_tls: TlsFiles | None = None

    def __post_init__(self) -> None:
        if not self.node_name or "/" in self.node_name:
            raise ConfigError(f"--node-name: invalid node name {self.node_name!r}")
        _, ipamd_port = _split_host_port(self.ipamd_address, "--ipamd")
        for flag, port in (("--ipamd", ipamd_port), ("--http-listen", self.http_port)):
            if not 0 < port < 65536:
                raise ConfigError(f"{flag}: port {port} is not between 1 and 65535")
        if self.mtu is not None and not MIN_MTU <= self.mtu <= MAX_MTU:
            raise ConfigError(f"--mtu: must be between {MIN_MTU} and {MAX_MTU}, got {self.mtu}")
        if "/" in self.cni_conf_file or not self.cni_conf_file.endswith((".conflist", ".conf")):
            raise ConfigError(
                "--cni-conf-file: must be a file name ending in .conflist, "
                f"got {self.cni_conf_file!r}"
            )
        if not self.ipamd_timeout > 0:  # also NaN
            raise ConfigError(f"--ipamd-timeout: must be positive, got {self.ipamd_timeout}")
        if self.cni_allowed_uid is not None and not 0 <= self.cni_allowed_uid < 2**32 - 1:
            raise ConfigError(f"--cni-allowed-uid: not a uid: {self.cni_allowed_uid}")
        if self.admin_listen is not None:
            _split_host_port(self.admin_listen, "--admin-listen")
            if self.admin_listen_given and self.tls is None:
                raise ConfigError(
                    "--admin-listen: the admin service is mutual TLS only: "
                    "give --tls-ca, --tls-cert and --tls-key"
                )
        if longest_path(self.socket_path) > MAX_UNIX_SOCKET_PATH:
            raise ConfigError(
                f"--socket: {self.socket_path} is too long: the agent also listens on "
                f"{refused_socket(self.socket_path)}, and unix socket paths are limited to "
                f"{MAX_UNIX_SOCKET_PATH} bytes"
            )

    @property
    def conflist_path(self) -> Path:
        return self.cni_conf_dir / self.cni_conf_file

    @property
    def cni_allowed_uids(self) -> frozenset[int]:
        """Callers the CNI socket serves: root, and the configured uid if any."""
        return frozenset({0} if self.cni_allowed_uid is None else {0, self.cni_allowed_uid})


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(
        prog="podnet-agent",
        description="podnet's per-node agent: serves the CNI shim on a unix socket, "
        "wires pods with veth pairs and routes, follows peer node ranges from ipamd.",
    )
    add = parser.add_argument
    add("--node-name", required=True, help="this node's name, unique in the cluster")
    add("--node-ip", required=True, help="IPv4 address peers route this node's pod range through")
    add("--ipamd", required=True, metavar="HOST:PORT", help="address of ipamd's gRPC endpoint")
    add("--tls-cert", type=Path, help="this node's certificate (role node, named --node-name)")
    add("--tls-key", type=Path, help="the key of --tls-cert")
    add("--tls-ca", type=Path, help="the podnet CA bundle ipamd's certificate must chain to")
    add(
        "--insecure-plaintext",
        action="store_true",
        help="talk to ipamd without TLS (only against an ipamd started with "
        "--insecure-plaintext): instead of --tls-cert/--tls-key/--tls-ca",
    )
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
        "--admin-listen",
        default=ADMIN_LISTEN_AUTO,
        metavar="HOST:PORT|off",
        help="the read-only admin gRPC service podnetctl calls (mutual TLS, admin "
        f"identities only) (default: <node-ip>:{DEFAULT_ADMIN_PORT} when TLS is given)",
    )
    add(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
        help="[%(default)s]",
    )
    return parser


ADMIN_LISTEN_AUTO = "auto"
DEFAULT_ADMIN_PORT = 9611


def _tls_files(args: argparse.Namespace) -> TlsFiles | None:
    given = {"--tls-ca": args.tls_ca, "--tls-cert": args.tls_cert, "--tls-key": args.tls_key}
    if args.insecure_plaintext or not any(given.values()):
        return None  # with --insecure-plaintext, _ipamd_tls names what is wrong
    missing = [flag for flag, value in given.items() if value is None]
    if missing:
        raise ConfigError(f"TLS needs all three files: give {', '.join(missing)}")
    return TlsFiles(args.tls_ca, args.tls_cert, args.tls_key)


def _admin_listen(value: str, node_ip: ipaddress.IPv4Address) -> str | None:
    if value == "off":
        return None
    if value == ADMIN_LISTEN_AUTO:
        return f"{node_ip}:{DEFAULT_ADMIN_PORT}"
    return value


def _split_host_port(value: str, flag: str) -> tuple[str, int]:
    """'HOST:PORT' as (host, port); ConfigError when value does not have that shape."""
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ConfigError(f"{flag}: expected HOST:PORT, got {value!r}")
    return host, int(port)


def parse_config(argv: Sequence[str] | None = None) -> AgentConfig:
    """The flags as an AgentConfig; exits 2 on a flag argparse cannot parse, raises
    ConfigError on a value the agent cannot run with."""
    args = build_parser().parse_args(argv)
    try:
        node_ip = ipaddress.IPv4Address(args.node_ip)
    except ValueError:
        raise ConfigError(f"--node-ip: not an IPv4 address: {args.node_ip!r}") from None
    http_host, http_port = _split_host_port(args.http_listen, "--http-listen")
    config = AgentConfig(
        node_name=args.node_name,
        node_ip=node_ip,
        ipamd_address=args.ipamd,
        socket_path=Path(args.socket),
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
        tls=_tls_files(args),
        admin_listen=_admin_listen(args.admin_listen, node_ip),
        admin_listen_given=args.admin_listen not in (ADMIN_LISTEN_AUTO, "off"),
    )
    # Transport last: a malformed value is named even when TLS flags are missing too.
    return replace(config, ipamd_tls=_ipamd_tls(args))


def _ipamd_tls(args: argparse.Namespace) -> TlsFiles | None:
    given = {"--tls-cert": args.tls_cert, "--tls-key": args.tls_key, "--tls-ca": args.tls_ca}
    if args.insecure_plaintext:
        if any(given.values()):
            raise ConfigError("--insecure-plaintext and --tls-* flags exclude each other")
        return None
    missing = [flag for flag, value in given.items() if value is None]
    if missing:
        raise ConfigError(
            f"ipamd needs mutual TLS: give {', '.join(missing)} (or --insecure-plaintext)"
        )
    return TlsFiles(args.tls_ca, args.tls_cert, args.tls_key)
