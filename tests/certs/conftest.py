"""The real podnetctl executable on a fresh certificate directory."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography import x509

from podnetctl.certs import commands
from podnetctl.certs.store import CertificateStore

PODNETCTL = shutil.which("podnetctl") or str(Path(sys.executable).parent / "podnetctl")


def podnetctl(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PODNETCTL, *(str(arg) for arg in args)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def podnetctl_ok(*args: str | Path) -> str:
    done = podnetctl(*args)
    assert done.returncode == 0, done.stderr
    return done.stdout


def load_certificate(path: Path) -> x509.Certificate:
    return x509.load_pem_x509_certificate(path.read_bytes())


@pytest.fixture
def cert_dir(tmp_path: Path) -> Path:
    """A directory with a fresh CA of trust domain podnet.local (made in-process, as
    `podnetctl certs init` makes it, to keep tests quick)."""
    directory = tmp_path / "pki"
    commands.init_ca(CertificateStore(directory))
    return directory
