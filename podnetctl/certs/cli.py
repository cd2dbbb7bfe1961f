"""The `podnetctl certs` subcommands: arguments in, one line per file written out."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from podnet.tls.errors import InvalidIdentity
from podnet.tls.identity import DEFAULT_TRUST_DOMAIN, Role, check_name, parse_role

from podnetctl.certs import commands
from podnetctl.certs.store import CertificateStore, LeafPaths
from podnetctl.certs.validity import CA_DAYS, LEAF_DAYS

ROLE_HELP = (
    "node: an agent (NAME = node name; with --ip its node IP, it also serves the agent's "
    "admin service); ipamd: an ipamd replica; admin: an operator; "
    "etcd: an etcd member; etcd-client: a client of etcd (NAME = etcd user)"
)


def _name(text: str) -> str:
    try:
        return check_name(text)
    except InvalidIdentity as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _role(text: str) -> Role:
    try:
        return parse_role(text)
    except InvalidIdentity as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def _days(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of days >= 1")
    return int(text)


def add_parser(subcommands: argparse._SubParsersAction[Any]) -> None:
    certs = subcommands.add_parser(
        "certs",
        help="the podnet CA and the certificates of nodes, ipamd, operators and etcd",
        description="Certificates of podnet identities (spiffe://<trust-domain>/<role>/<name>). "
        "DIR holds ca.crt/ca.key and <role>/<name>.crt/.key; keys are 0600, directories 0700.",
    )
    verbs = certs.add_subparsers(dest="verb", required=True, metavar="{init,issue,renew}")

    init = verbs.add_parser("init", help="create the CA")
    init.add_argument("--dir", type=Path, required=True)
    init.add_argument("--trust-domain", type=_name, default=DEFAULT_TRUST_DOMAIN)
    init.add_argument("--days", type=_days, default=CA_DAYS, help=f"default {CA_DAYS}")
    init.add_argument("--force", action="store_true", help="replace an existing CA")
    init.set_defaults(run=_init)

    issue = verbs.add_parser("issue", help="a new key and certificate for one identity")
    issue.add_argument("--dir", type=Path, required=True)
    issue.add_argument("--role", type=_role, required=True, help=ROLE_HELP)
    issue.add_argument("--name", type=_name, required=True)
    issue.add_argument(
        "--dns", action="append", default=[], help="a DNS SAN (server roles and node; repeatable)"
    )
    issue.add_argument(
        "--ip",
        action="append",
        default=[],
        help="an IP SAN (server roles and node; repeatable)",
    )
    issue.add_argument("--days", type=_days, default=LEAF_DAYS, help=f"default {LEAF_DAYS}")
    issue.add_argument("--force", action="store_true", help="replace an existing certificate")
    issue.set_defaults(run=_issue)

    renew = verbs.add_parser(
        "renew", help="a new key and certificate with the same SANs, replacing the files"
    )
    renew.add_argument("--dir", type=Path, required=True)
    renew.add_argument("--role", type=_role, required=True, help=ROLE_HELP)
    renew.add_argument("--name", type=_name, required=True)
    renew.add_argument("--days", type=_days, default=LEAF_DAYS, help=f"default {LEAF_DAYS}")
    renew.set_defaults(run=_renew)


def _init(args: argparse.Namespace) -> None:
    store = CertificateStore(args.dir)
    authority = commands.init_ca(store, args.trust_domain, args.days, args.force)
    print(
        f"CA for trust domain {authority.trust_domain}: {store.ca_cert} (key {store.ca_key}), "
        f"valid until {authority.certificate.not_valid_after_utc:%Y-%m-%d}"
    )


def _issue(args: argparse.Namespace) -> None:
    paths = commands.issue(
        CertificateStore(args.dir), args.role, args.name, args.dns, args.ip, args.days, args.force
    )
    _report("issued", paths)


def _renew(args: argparse.Namespace) -> None:
    paths = commands.renew(CertificateStore(args.dir), args.role, args.name, args.days)
    _report("renewed", paths)


def _report(verb: str, paths: LeafPaths) -> None:
    print(f"{verb} {paths.cert} (key {paths.key})")
