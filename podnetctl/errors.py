"""The one error podnetctl's commands raise: printed as one line, exit status 1."""

from __future__ import annotations


class CommandError(Exception):
    pass
