"""What executing a plugin or a chain returns, including wall-clock timings."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class PluginRun:
    """One plugin process: from exec to its result being read back."""

    plugin_type: str
    command: str
    exit_code: int
    wall_seconds: float


@dataclass(frozen=True)
class ChainResult:
    """The outcome of ADD/DEL/CHECK/STATUS over a whole configuration list.

    result is the last plugin's parsed result for ADD (None for the others).
    wall_seconds spans the whole chain, including cache reads and writes.
    """

    command: str
    result: dict[str, Any] | None
    runs: tuple[PluginRun, ...]
    wall_seconds: float


@dataclass(frozen=True)
class VersionInfo:
    plugin_type: str
    cni_version: str
    supported_versions: tuple[str, ...]
