"""Hand-written protobuf encoding of podnet.v1.CniInvocation and CniOutcome.

The shim must not import google.protobuf (it costs more than the whole rest of
the shim's start-up), so the two messages of proto/podnet/v1/cni.proto are
encoded here. tests/shim/test_wire.py checks byte-for-byte agreement with the
generated classes, so a .proto change cannot drift silently.
"""

from __future__ import annotations

_VARINT = 0
_FIXED64 = 1
_LENGTH_DELIMITED = 2
_FIXED32 = 5

# CniInvocation field numbers, in wire order.
_INVOCATION_STRINGS = (
    (1, "command"),
    (2, "container_id"),
    (3, "netns"),
    (4, "ifname"),
    (5, "args"),
    (6, "path"),
)
_INVOCATION_CONFIG = 7
_INVOCATION_REPLAYED = 8

_OUTCOME_EXIT_CODE = 1
_OUTCOME_STDOUT = 2


class WireError(ValueError):
    """A protobuf message that cannot be decoded."""


class Invocation:
    """One CNI invocation as the shim forwards it (mirrors CniInvocation)."""

    __slots__ = ("args", "command", "config", "container_id", "ifname", "netns", "path", "replayed")

    def __init__(
        self,
        command: str,
        container_id: str = "",
        netns: str = "",
        ifname: str = "",
        args: str = "",
        path: str = "",
        config: bytes = b"",
        replayed: bool = False,
    ) -> None:
        self.command = command
        self.container_id = container_id
        self.netns = netns
        self.ifname = ifname
        self.args = args
        self.path = path
        self.config = config
        self.replayed = replayed

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Invocation):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.__slots__)

    def __hash__(self) -> int:
        return hash(tuple(getattr(self, name) for name in self.__slots__))

    def __repr__(self) -> str:
        return (
            f"Invocation(command={self.command!r}, container_id={self.container_id!r}, "
            f"netns={self.netns!r}, ifname={self.ifname!r}, args={self.args!r}, "
            f"path={self.path!r}, config=<{len(self.config)} bytes>, replayed={self.replayed!r})"
        )


def _varint(value: int) -> bytes:
    value &= 0xFFFFFFFFFFFFFFFF
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _length_delimited(field: int, payload: bytes) -> bytes:
    return _varint(field << 3 | _LENGTH_DELIMITED) + _varint(len(payload)) + payload


def encode_invocation(invocation: Invocation) -> bytes:
    parts = []
    for field, name in _INVOCATION_STRINGS:
        text: str = getattr(invocation, name)
        if text:
            parts.append(_length_delimited(field, text.encode("utf-8", "replace")))
    if invocation.config:
        parts.append(_length_delimited(_INVOCATION_CONFIG, invocation.config))
    if invocation.replayed:
        parts.append(_varint(_INVOCATION_REPLAYED << 3 | _VARINT) + b"\x01")
    return b"".join(parts)


def encode_outcome(exit_code: int, stdout: bytes) -> bytes:
    parts = []
    if exit_code:
        parts.append(_varint(_OUTCOME_EXIT_CODE << 3 | _VARINT) + _varint(exit_code))
    if stdout:
        parts.append(_length_delimited(_OUTCOME_STDOUT, stdout))
    return b"".join(parts)


def _read_varint(data: bytes, pos: int) -> tuple[int, int]:
    result = 0
    shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise WireError("truncated or overlong varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result & 0xFFFFFFFFFFFFFFFF, pos
        shift += 7


def _fields(data: bytes) -> list[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) for every field, unknown ones included."""
    fields: list[tuple[int, int, int | bytes]] = []
    pos = 0
    while pos < len(data):
        key, pos = _read_varint(data, pos)
        field, wire_type = key >> 3, key & 7
        if field == 0:
            raise WireError("field number 0")
        value: int | bytes
        if wire_type == _VARINT:
            value, pos = _read_varint(data, pos)
        elif wire_type == _LENGTH_DELIMITED:
            length, pos = _read_varint(data, pos)
            if pos + length > len(data):
                raise WireError("truncated length-delimited field")
            value, pos = data[pos : pos + length], pos + length
        elif wire_type in (_FIXED64, _FIXED32):
            size = 8 if wire_type == _FIXED64 else 4
            if pos + size > len(data):
                raise WireError("truncated fixed-width field")
            value, pos = data[pos : pos + size], pos + size
        else:
            raise WireError(f"unsupported wire type {wire_type}")
        fields.append((field, wire_type, value))
    return fields


def _text(value: int | bytes) -> str:
    if not isinstance(value, bytes):
        raise WireError("expected a string field")
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError as error:
        raise WireError("string field is not UTF-8") from error


def decode_invocation(data: bytes) -> Invocation:
    invocation = Invocation("")
    names = dict(_INVOCATION_STRINGS)
    for field, wire_type, value in _fields(data):
        if field in names and wire_type == _LENGTH_DELIMITED:
            setattr(invocation, names[field], _text(value))
        elif field == _INVOCATION_CONFIG and isinstance(value, bytes):
            invocation.config = value
        elif field == _INVOCATION_REPLAYED and isinstance(value, int):
            invocation.replayed = value != 0
    return invocation


def decode_outcome(data: bytes) -> tuple[int, bytes]:
    """(exit_code, stdout) of a CniOutcome."""
    exit_code = 0
    stdout = b""
    for field, wire_type, value in _fields(data):
        if field == _OUTCOME_EXIT_CODE and isinstance(value, int):
            value &= 0xFFFFFFFF
            exit_code = value - (1 << 32) if value & 0x80000000 else value
        elif field == _OUTCOME_STDOUT and wire_type == _LENGTH_DELIMITED:
            assert isinstance(value, bytes)
            stdout = value
    return exit_code, stdout
