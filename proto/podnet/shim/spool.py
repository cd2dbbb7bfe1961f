"""DELs the shim could not deliver, kept on disk until the agent replays them.

One file per (container id, ifname), so a repeated DEL overwrites the earlier
one: `<hex of container id>-<hex of ifname>.del` (lowercase hex of the UTF-8
bytes), reversible and never a path, and simple enough for the C shim
(cni_shim/native) to write the same names. File names are limited to 255
bytes, so container ids up to 103 bytes can be spooled (runtimes use 64);
a longer one fails as an I/O error. A file holds the CniInvocation protobuf
encoding of the DEL exactly as the runtime sent it. Written atomically (temp
file, fsync, rename, fsync of the directory), mode 0600 in a 0700 directory.
The agent calls load_spooled() when it starts, runs each DEL with
replayed=True, then discard()s it.
"""

from __future__ import annotations

import os
from pathlib import Path

from podnet.shim.wire import Invocation, WireError, decode_invocation, encode_invocation

SPOOL_SUFFIX = ".del"
_TEMP_PREFIX = ".tmp-"
_HEX_DIGITS = "0123456789abcdef"


class SpooledDel:
    """A spooled DEL: where it is stored and the invocation (replayed=True)."""

    __slots__ = ("invocation", "path")

    def __init__(self, path: Path, invocation: Invocation) -> None:
        self.path = path
        self.invocation = invocation

    @property
    def message_bytes(self) -> bytes:
        """The invocation (replayed=True) as CniInvocation protobuf bytes, for FromString."""
        return encode_invocation(self.invocation)

    def __repr__(self) -> str:
        return f"SpooledDel(path={str(self.path)!r}, invocation={self.invocation!r})"


def spool_file_name(container_id: str, ifname: str) -> str:
    return f"{_hex(container_id)}-{_hex(ifname)}{SPOOL_SUFFIX}"


def spooled_del_path(spool_dir: str | Path, container_id: str, ifname: str) -> Path:
    """Where a DEL of (container id, ifname) is spooled, whether or not it is there."""
    return Path(spool_dir) / spool_file_name(container_id, ifname)


def attachment_of_spool_file(name: str) -> tuple[str, str]:
    """(container id, ifname) a spool file name stands for; ValueError if it is not one."""
    if not name.endswith(SPOOL_SUFFIX) or name.count("-") != 1:
        raise ValueError(f"{name!r} is not a spool file name")
    container_hex, ifname_hex = name[: -len(SPOOL_SUFFIX)].split("-")
    return _unhex(container_hex), _unhex(ifname_hex)


def _hex(text: str) -> str:
    return text.encode("utf-8", "replace").hex()


def _unhex(digits: str) -> str:
    if digits.strip(_HEX_DIGITS):
        raise ValueError(f"{digits!r} is not lowercase hex")
    return bytes.fromhex(digits).decode("utf-8")


def spool_del(spool_dir: str | Path, invocation: Invocation) -> Path:
    """Durably records a DEL; replaces an earlier one for the same attachment."""
    directory = Path(spool_dir)
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    target = directory / spool_file_name(invocation.container_id, invocation.ifname)
    temp = directory / f"{_TEMP_PREFIX}{target.name}.{os.getpid()}"
    stored = Invocation(
        invocation.command,
        invocation.container_id,
        invocation.netns,
        invocation.ifname,
        invocation.args,
        invocation.path,
        invocation.config,
    )
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
    try:
        os.fchmod(fd, 0o600)
        data = encode_invocation(stored)
        while data:
            data = data[os.write(fd, data) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temp, target)
    _fsync_directory(directory)
    return target


def load_spooled(spool_dir: str | Path) -> list[SpooledDel]:
    """Spooled DELs, oldest first. Undecodable files are left in place and skipped."""
    directory = Path(spool_dir)
    if not directory.is_dir():
        return []
    entries: list[tuple[int, SpooledDel]] = []
    for path in directory.iterdir():
        if not path.name.endswith(SPOOL_SUFFIX) or path.name.startswith(_TEMP_PREFIX):
            continue
        try:
            invocation = decode_invocation(path.read_bytes())
            mtime = path.stat().st_mtime_ns
        except (OSError, WireError):
            continue
        if invocation.command != "DEL":
            continue
        invocation.replayed = True
        entries.append((mtime, SpooledDel(path, invocation)))
    entries.sort(key=lambda entry: (entry[0], entry[1].path.name))
    return [spooled for _, spooled in entries]


def count_spooled(spool_dir: str | Path) -> int:
    """How many DELs wait in the spool, by file name alone (cheap enough per scrape)."""
    try:
        names = os.listdir(spool_dir)
    except FileNotFoundError:
        return 0
    return sum(
        1 for name in names if name.endswith(SPOOL_SUFFIX) and not name.startswith(_TEMP_PREFIX)
    )


def discard(spooled: SpooledDel) -> None:
    discard_spooled_del(spooled.path)


def discard_spooled_del(path: Path) -> None:
    path.unlink(missing_ok=True)
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
