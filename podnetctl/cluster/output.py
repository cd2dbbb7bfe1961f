"""podnetctl's two output forms: an aligned text table, or JSON (--json)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any


def table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """Columns left-aligned, two spaces apart, headers first; no trailing blanks."""
    lines = [list(headers), *(list(row) for row in rows)]
    widths = [max(len(line[column]) for line in lines) for column in range(len(headers))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def print_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    print(table(headers, rows))


def print_json(document: Any) -> None:
    print(json.dumps(document, indent=2, sort_keys=True))


def short_id(container_id: str) -> str:
    """A container id as runtimes print it: its first 12 characters."""
    return container_id[:12]
