"""The live progress line on stderr: pods done, pods/s, errors."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from typing import TextIO


class ProgressLine:
    """Redraws one line every interval while running (a new line each time off a tty)."""

    def __init__(
        self,
        snapshot: Callable[[], tuple[int, int]],
        label: str,
        stream: TextIO = sys.stderr,
        interval: float = 0.5,
    ) -> None:
        self._snapshot = snapshot  # () -> (pods done, pods with errors)
        self._label = label
        self._stream = stream
        self._interval = interval if stream.isatty() else max(interval, 5.0)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="churn-progress", daemon=True)
        self._started = time.monotonic()

    def start(self) -> None:
        self._started = time.monotonic()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self._draw(final=True)

    def text(self) -> str:
        done, failed = self._snapshot()
        elapsed = max(time.monotonic() - self._started, 1e-9)
        return (
            f"{self._label}: {done} pods, {done / elapsed:.1f} pods/s, "
            f"{failed} with errors, {elapsed:.0f}s"
        )

    def _draw(self, final: bool = False) -> None:
        if self._stream.isatty():
            self._stream.write("\r\x1b[K" + self.text() + ("\n" if final else ""))
        else:
            self._stream.write(self.text() + "\n")
        self._stream.flush()

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self._draw()
