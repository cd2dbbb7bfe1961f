"""Where a TLS identity's files are: pure, so configuration can name them without
loading anything (podnet.tls.files reads and watches them)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TlsFiles:
    ca: Path  # the CA bundle that peers' certificates must chain to
    cert: Path
    key: Path
