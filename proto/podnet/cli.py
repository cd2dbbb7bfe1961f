"""How every podnet command answers bad input: one readable line on stderr and exit
status 2, never a usage block or a traceback."""

from __future__ import annotations

import argparse
import sys
from typing import NoReturn

EXIT_USAGE = 2


class OneLineArgumentParser(argparse.ArgumentParser):
    """An ArgumentParser whose usage errors, its subcommands' too, are the one line
    "PROG: error: MESSAGE" and exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def exit_with_error(prog: str, message: object, status: int = EXIT_USAGE) -> NoReturn:
    """Ends the command with "PROG: error: MESSAGE" on stderr, as one line."""
    one_line = " ".join(str(message).split())
    sys.stderr.write(f"{prog}: error: {one_line}\n")
    sys.stderr.flush()
    raise SystemExit(status)
