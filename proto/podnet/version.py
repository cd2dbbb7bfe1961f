"""The installed podnet's version, as every daemon and podnetctl report it."""

from __future__ import annotations

import functools
from importlib import metadata


@functools.cache
def podnet_version() -> str:
    try:
        return metadata.version("podnet")
    except metadata.PackageNotFoundError:
        return "unknown"
