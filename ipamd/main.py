"""podnet-ipamd: the central pod IP allocator (gRPC in front of etcd)."""

from __future__ import annotations

import os

# Set before grpc is imported. gRPC core's own plain-text stderr lines would break the
# JSON-lines log; what it reports reaches us as exceptions, logged in the schema.
# GRPC_VERBOSITY=debug brings them back.
os.environ.setdefault("GRPC_VERBOSITY", "NONE")

import argparse
import asyncio
import ipaddress
import sys
from pathlib import Path

from podnet.cli import OneLineArgumentParser, exit_with_error
from podnet.logs import configure_logging
from podnet.tls.paths import TlsFiles

from ipamd.config import DEFAULT_HTTP_PORT, ClusterConfig, EtcdAddress, IpamConfig, split_host_port
from ipamd.errors import ConfigError, IpamError
from ipamd.server import run_until_signalled

PROGRAM = "podnet-ipamd"
EXIT_START_FAILED = 1


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineArgumentParser(
        prog=PROGRAM,
        description="Central podnet IPAM daemon: leases node ranges and pod IPs from etcd.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument(
        "--listen", default="0.0.0.0:9600", help="HOST:PORT for gRPC (port 0 picks a free one)"
    )
    parser.add_argument(
        "--etcd",
        default="127.0.0.1:2379",
        help="etcd client endpoints HOST:PORT[,HOST:PORT...], tried in order on failure",
    )
    parser.add_argument("--etcd-prefix", default="/podnet", help="key prefix of all podnet state")
    parser.add_argument(
        "--etcd-timeout", type=float, default=5.0, help="timeout of each etcd call, seconds"
    )
    parser.add_argument("--etcd-ca", type=Path, help="CA bundle that signed etcd's certificates")
    parser.add_argument(
        "--etcd-cert", type=Path, help="ipamd's etcd client certificate (its CN is the etcd user)"
    )
    parser.add_argument("--etcd-key", type=Path, help="the key of --etcd-cert")
    parser.add_argument(
        "--etcd-insecure-plaintext",
        action="store_true",
        help="talk to etcd without TLS (anyone on the network can read and forge podnet's "
        "state): instead of --etcd-ca/--etcd-cert/--etcd-key",
    )
    parser.add_argument("--cluster-cidr", default="10.244.0.0/16", help="IPv4 pod network")
    parser.add_argument(
        "--node-prefix-length", type=int, default=24, help="prefix length of each node's range"
    )
    parser.add_argument(
        "--node-lease-ttl",
        type=int,
        default=15,
        help="seconds a node keeps its range live without renewing",
    )
    parser.add_argument(
        "--quarantine",
        type=float,
        default=60.0,
        help="seconds a silent node's range and pod IPs are kept before reclaim",
    )
    parser.add_argument(
        "--http-host", default="0.0.0.0", help="address of /metrics, /healthz, /readyz"
    )
    parser.add_argument(
        "--http-port",
        type=int,
        default=DEFAULT_HTTP_PORT,
        help="port of /metrics, /healthz, /readyz (0 picks a free one; always served)",
    )
    parser.add_argument(
        "--compaction-interval",
        type=float,
        default=300.0,
        help="seconds between compactions of etcd's history by one replica (0: never; "
        "then etcd must compact itself, see --auto-compaction-retention)",
    )
    parser.add_argument(
        "--compaction-retention",
        type=float,
        default=300.0,
        help="seconds of etcd history kept behind the current revision when compacting",
    )
    parser.add_argument(
        "--log-level",
        default="INFO",
        choices=["DEBUG", "INFO", "WARNING", "ERROR"],
        type=str.upper,
        help="log level (JSON lines on stderr)",
    )
    return parser


def config_from_args(argv: list[str] | None = None) -> IpamConfig:
    """Parses the command line; raises ConfigError on values that cannot work."""
    args = build_parser().parse_args(argv)
    try:
        cluster_cidr = ipaddress.IPv4Network(args.cluster_cidr, strict=True)
    except ValueError as error:
        raise ConfigError(f"--cluster-cidr: {error}") from None
    endpoints = (split_host_port(part, "--etcd") for part in args.etcd.split(",") if part.strip())
    return IpamConfig(
        listen=args.listen,
        etcd_endpoints=tuple(EtcdAddress(host, port) for host, port in endpoints),
        etcd_prefix=args.etcd_prefix,
        cluster=ClusterConfig(cluster_cidr, args.node_prefix_length),
        node_lease_ttl=args.node_lease_ttl,
        quarantine_seconds=args.quarantine,
        etcd_timeout=args.etcd_timeout,
        log_level=args.log_level,
        etcd_tls=_etcd_tls(args),
        http_host=args.http_host,
        http_port=args.http_port,
        compaction_interval=args.compaction_interval,
        compaction_retention=args.compaction_retention,
    )


def _etcd_tls(args: argparse.Namespace) -> TlsFiles | None:
    given = {"--etcd-ca": args.etcd_ca, "--etcd-cert": args.etcd_cert, "--etcd-key": args.etcd_key}
    if args.etcd_insecure_plaintext:
        if any(given.values()):
            raise ConfigError("--etcd-insecure-plaintext and etcd TLS flags exclude each other")
        return None
    missing = [flag for flag, value in given.items() if value is None]
    if missing:
        raise ConfigError(
            f"etcd needs TLS: give {', '.join(missing)} (or --etcd-insecure-plaintext)"
        )
    return TlsFiles(args.etcd_ca, args.etcd_cert, args.etcd_key)


def main(argv: list[str] | None = None) -> None:
    try:
        config = config_from_args(argv)
    except ConfigError as error:
        exit_with_error(PROGRAM, error)
    configure_logging(config.log_level, "ipamd")
    try:
        asyncio.run(run_until_signalled(config))
    except ConfigError as error:
        exit_with_error(PROGRAM, error)
    except (IpamError, OSError) as error:  # etcd lost during start-up, and the like
        exit_with_error(PROGRAM, error, status=EXIT_START_FAILED)
    except KeyboardInterrupt:
        pass
    sys.exit(0)


if __name__ == "__main__":
    main()
