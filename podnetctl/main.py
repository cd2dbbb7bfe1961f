"""podnetctl: the operator's command line. Errors are one line on stderr, exit status 1
(2 for a malformed command line, and for `ipam check` that could not check)."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

from podnet.tls.errors import TlsError

from podnetctl import etcd_cli
from podnetctl.certs import cli as certs_cli
from podnetctl.cluster import cli as cluster_cli
from podnetctl.errors import CommandError

PROGRAM = "podnetctl"
EXIT_FAILED = 1
EXIT_USAGE = 2


class OneLineErrorParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineErrorParser(prog=PROGRAM, description="Operate a podnet cluster.")
    subcommands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    cluster_cli.add_parsers(subcommands)
    certs_cli.add_parser(subcommands)
    etcd_cli.add_parser(subcommands)
    return parser


def main(argv: list[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        status = args.run(args)
    except CommandError as error:
        sys.stderr.write(f"{PROGRAM}: error: {error}\n")
        sys.exit(error.exit_status)
    except TlsError as error:
        sys.stderr.write(f"{PROGRAM}: error: {error}\n")
        sys.exit(EXIT_FAILED)
    except OSError as error:
        sys.stderr.write(f"{PROGRAM}: error: {error.filename or ''}: {error.strerror}\n")
        sys.exit(EXIT_FAILED)
    sys.exit(status or 0)


if __name__ == "__main__":
    main()
