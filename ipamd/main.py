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
from dataclasses import replace
from pathlib import Path

from podnet.cli import OneLineArgumentParser, exit_with_error
from podnet.logs import configure_logging
from podnet.tls.errors import InvalidIdentity
from podnet.tls.identity import DEFAULT_TRUST_DOMAIN, check_name
from podnet.tls.paths import TlsFiles

from ipamd.config import (
    DEFAULT_HTTP_PORT,
    ClusterConfig,
    EtcdAddress,
    IpamConfig,
    ServerTls,
    split_host_port,
)
from ipamd.errors import ConfigError, IpamError
from ipamd.limits import Limits
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
    parser.add_argument(
        "--tls-cert", type=Path, help="ipamd's serving certificate (role ipamd, names its address)"
    )
    parser.add_argument("--tls-key", type=Path, help="the key of --tls-cert")
    parser.add_argument(
        "--tls-client-ca",
        type=Path,
        help="CA bundle callers' certificates must chain to (the podnet CA); callers without "
        "one fail the handshake",
    )
    parser.add_argument(
        "--trust-domain",
        default=DEFAULT_TRUST_DOMAIN,
        help="SPIFFE trust domain of callers' identities (must be the CA's)",
    )
    parser.add_argument(
        "--insecure-plaintext",
        action="store_true",
        help="serve gRPC without TLS: anyone who reaches the port can take any node's range "
        "and release any pod's address; instead of --tls-cert/--tls-key/--tls-client-ca",
    )
    defaults = Limits()
    parser.add_argument(
        "--max-calls-per-identity",
        type=int,
        default=defaults.calls_per_identity,
        help="calls one caller (certificate) may have in flight; more get RESOURCE_EXHAUSTED",
    )
    parser.add_argument(
        "--max-streams-per-identity",
        type=int,
        default=defaults.streams_per_identity,
        help="range streams one caller may keep open; more get RESOURCE_EXHAUSTED",
    )
    parser.add_argument(
        "--call-timeout",
        type=float,
        default=defaults.call_timeout,
        help="seconds a call may run in ipamd before it ends in DEADLINE_EXCEEDED",
    )
    parser.add_argument(
        "--max-request-bytes",
        type=int,
        default=defaults.max_request_bytes,
        help="largest request message accepted",
    )
    parser.add_argument(
        "--max-queued-reservations",
        type=int,
        default=defaults.queued_reservations,
        help="address reservations waiting for etcd; beyond, RESOURCE_EXHAUSTED",
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
    config = IpamConfig(
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
        limits=Limits(
            calls_per_identity=args.max_calls_per_identity,
            streams_per_identity=args.max_streams_per_identity,
            call_timeout=args.call_timeout,
            max_request_bytes=args.max_request_bytes,
            queued_reservations=args.max_queued_reservations,
        ),
    )
    # Transport last: a malformed value is named even when TLS flags are missing too.
    return replace(config, etcd_tls=_etcd_tls(args), server_tls=_server_tls(args))


def _server_tls(args: argparse.Namespace) -> ServerTls | None:
    given = {
        "--tls-cert": args.tls_cert,
        "--tls-key": args.tls_key,
        "--tls-client-ca": args.tls_client_ca,
    }
    if args.insecure_plaintext:
        if any(given.values()):
            raise ConfigError("--insecure-plaintext and --tls-* flags exclude each other")
        return None
    missing = [flag for flag, value in given.items() if value is None]
    if missing:
        raise ConfigError(
            f"ipamd serves mutual TLS only: give {', '.join(missing)} (or --insecure-plaintext)"
        )
    try:
        trust_domain = check_name(args.trust_domain, "trust domain")
    except InvalidIdentity as error:
        raise ConfigError(f"--trust-domain: {error}") from None
    return ServerTls(TlsFiles(args.tls_client_ca, args.tls_cert, args.tls_key), trust_domain)


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
