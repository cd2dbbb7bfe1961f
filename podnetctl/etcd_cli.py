"""`podnetctl etcd enable-auth`: etcd RBAC so that only ipamd reaches podnet's keys."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from podnetctl.errors import CommandError
from podnetctl.etcd_access import DEFAULT_ROLE, DEFAULT_USER, EtcdAccess


def add_parser(subcommands: argparse._SubParsersAction[Any]) -> None:
    etcd = subcommands.add_parser("etcd", help="podnet's access to etcd")
    verbs = etcd.add_subparsers(dest="verb", required=True, metavar="{enable-auth}")
    enable = verbs.add_parser(
        "enable-auth",
        help="let only ipamd's etcd identity read and write podnet's keys",
        description="Creates etcd's root user and role, a role with read-write permission on "
        "PREFIX/ and a user for ipamd (the CN of its etcd-client certificate), then enables "
        "auth. etcd must run with --client-cert-auth. Safe to run again.",
    )
    enable.add_argument("--endpoint", required=True, help="HOST:PORT of an etcd member")
    enable.add_argument("--ca", type=Path, required=True, help="the CA of etcd's certificate")
    enable.add_argument(
        "--cert", type=Path, required=True, help="the etcd-client certificate named root"
    )
    enable.add_argument("--key", type=Path, required=True, help="the key of --cert")
    enable.add_argument(
        "--prefix", default="/podnet", help="ipamd's --etcd-prefix (default /podnet)"
    )
    enable.add_argument(
        "--user", default=DEFAULT_USER, help=f"ipamd's etcd user (default {DEFAULT_USER})"
    )
    enable.add_argument(
        "--role", default=DEFAULT_ROLE, help=f"the etcd role to grant (default {DEFAULT_ROLE})"
    )
    enable.set_defaults(run=_enable_auth)


def _enable_auth(args: argparse.Namespace) -> None:
    # grpc only for this command: `podnetctl certs` starts without it.
    from podnet.tls.files import TlsFiles

    from podnetctl.etcd_auth import enable_etcd_auth_at

    try:
        access = EtcdAccess(args.prefix, args.user, args.role)
    except ValueError as error:
        raise CommandError(str(error)) from None
    enable_etcd_auth_at(args.endpoint, TlsFiles(args.ca, args.cert, args.key), access)
    print(
        f"etcd auth enabled: user {access.user} (role {access.role}) reads and writes "
        f"{access.prefix}/"
    )
