"""The one error podnetctl's commands raise: printed as one line, exit status 1 (or the
error's own exit_status)."""

from __future__ import annotations


class CommandError(Exception):
    exit_status = 1
