"""Writing files so that a reader sees the old content or the new, never a mix."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

KEY_MODE = 0o600
CERT_MODE = 0o644
DIR_MODE = 0o700


def make_private_dir(path: Path) -> None:
    """Creates path (and parents) as 0700; tightens an existing one to 0700."""
    path.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    os.chmod(path, DIR_MODE)


def _write_temp(path: Path, data: bytes, mode: int) -> Path:
    """data in a new file beside path, created with mode (never wider), flushed to disk."""
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with contextlib.suppress(FileNotFoundError):
        temp.unlink()
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.fchmod(fd, mode)  # the umask may have narrowed it
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    return temp


def _sync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def replace_pair(key_path: Path, key_pem: bytes, cert_path: Path, cert_pem: bytes) -> None:
    """Writes both files to temporaries, then renames the key, then the certificate.
    A reader checks that the key fits the certificate and reads again if not
    (podnet.tls.pair.load_pair)."""
    temps: list[Path] = []
    try:
        temps.append(_write_temp(key_path, key_pem, KEY_MODE))
        temps.append(_write_temp(cert_path, cert_pem, CERT_MODE))
        os.replace(temps[0], key_path)
        os.replace(temps[1], cert_path)
    finally:
        for temp in temps:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
    _sync_dir(key_path.parent)
