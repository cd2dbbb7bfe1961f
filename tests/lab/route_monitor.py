"""Kernel route events with timestamps (`ip -ts monitor route`) from several namespaces."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType

_LINE = re.compile(r"^\[(?P<ts>[^\]]+)\] (?P<deleted>Deleted )?(?P<dst>\S+) via (?P<gw>\S+) ")


@dataclass(frozen=True)
class RouteEvent:
    at: float  # seconds since the epoch
    netns: str
    deleted: bool
    dst: str
    gateway: str


class RouteMonitor:
    """Records gatewayed route additions/deletions in each namespace while in its `with`."""

    def __init__(self, namespaces: list[str]) -> None:
        self._namespaces = namespaces
        self._work = Path(tempfile.mkdtemp(prefix="routemon-"))
        self._processes: list[tuple[str, subprocess.Popen[bytes], Path]] = []
        self._recorded: list[RouteEvent] | None = None

    def __enter__(self) -> RouteMonitor:
        for netns in self._namespaces:
            out = self._work / f"{netns}.log"
            with out.open("wb") as sink:
                process = subprocess.Popen(
                    ["ip", "-n", netns, "-ts", "monitor", "route"],
                    stdout=sink,
                    stderr=subprocess.DEVNULL,
                )
            self._processes.append((netns, process, out))
        time.sleep(0.3)  # `ip monitor` subscribes shortly after exec; nothing to poll for
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        for _, process, _ in self._processes:
            process.terminate()
            try:
                process.wait(5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._recorded = self._parse()
        shutil.rmtree(self._work, ignore_errors=True)

    def events(self) -> list[RouteEvent]:
        return self._recorded if self._recorded is not None else self._parse()

    def _parse(self) -> list[RouteEvent]:
        found = []
        for netns, _, out in self._processes:
            for line in out.read_text(errors="replace").splitlines():
                match = _LINE.match(line)
                if match is None:
                    continue
                found.append(
                    RouteEvent(
                        at=datetime.fromisoformat(match["ts"]).timestamp(),
                        netns=netns,
                        deleted=bool(match["deleted"]),
                        dst=match["dst"],
                        gateway=match["gw"],
                    )
                )
        return sorted(found, key=lambda event: event.at)

    def first_change(self, dst: str, deleted: bool) -> dict[str, float]:
        """netns -> time of its first addition (or deletion) of a route to dst."""
        seen: dict[str, float] = {}
        for event in self.events():
            if event.dst == dst and event.deleted == deleted:
                seen.setdefault(event.netns, event.at)
        return seen
