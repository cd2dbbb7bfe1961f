"""One lab-changing command at a time: lab.json is read, changed and written back."""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager

from tools.lab.errors import LabBusyError
from tools.lab.layout import LabPaths


@contextmanager
def lab_lock(paths: LabPaths, timeout: float = 120.0) -> Iterator[None]:
    """Holds an exclusive lock on the lab's state dir (which must exist)."""
    descriptor = os.open(paths.lock_file, os.O_CREAT | os.O_RDWR, 0o600)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise LabBusyError(
                        f"another podnet-lab command holds {paths.lock_file}"
                    ) from None
                time.sleep(0.1)
        yield
    finally:
        os.close(descriptor)
