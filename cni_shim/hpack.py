"""HPACK (RFC 7541): a complete decoder and a minimal literal-only encoder.

The encoder emits every header as "literal without indexing, new name",
without Huffman coding: it never touches the peer's dynamic table. The decoder
handles everything a server may send (indexed fields, dynamic table inserts,
size updates, Huffman strings), because gRPC's C-core server indexes and
Huffman-codes its response headers and trailers.
"""

from __future__ import annotations

from cni_shim.huffman import HuffmanError, huffman_decode

STATIC_TABLE = (
    (b":authority", b""),
    (b":method", b"GET"),
    (b":method", b"POST"),
    (b":path", b"/"),
    (b":path", b"/index.html"),
    (b":scheme", b"http"),
    (b":scheme", b"https"),
    (b":status", b"200"),
    (b":status", b"204"),
    (b":status", b"206"),
    (b":status", b"304"),
    (b":status", b"400"),
    (b":status", b"404"),
    (b":status", b"500"),
    (b"accept-charset", b""),
    (b"accept-encoding", b"gzip, deflate"),
    (b"accept-language", b""),
    (b"accept-ranges", b""),
    (b"accept", b""),
    (b"access-control-allow-origin", b""),
    (b"age", b""),
    (b"allow", b""),
    (b"authorization", b""),
    (b"cache-control", b""),
    (b"content-disposition", b""),
    (b"content-encoding", b""),
    (b"content-language", b""),
    (b"content-length", b""),
    (b"content-location", b""),
    (b"content-range", b""),
    (b"content-type", b""),
    (b"cookie", b""),
    (b"date", b""),
    (b"etag", b""),
    (b"expect", b""),
    (b"expires", b""),
    (b"from", b""),
    (b"host", b""),
    (b"if-match", b""),
    (b"if-modified-since", b""),
    (b"if-none-match", b""),
    (b"if-range", b""),
    (b"if-unmodified-since", b""),
    (b"last-modified", b""),
    (b"link", b""),
    (b"location", b""),
    (b"max-forwards", b""),
    (b"proxy-authenticate", b""),
    (b"proxy-authorization", b""),
    (b"range", b""),
    (b"referer", b""),
    (b"refresh", b""),
    (b"retry-after", b""),
    (b"server", b""),
    (b"set-cookie", b""),
    (b"strict-transport-security", b""),
    (b"transfer-encoding", b""),
    (b"user-agent", b""),
    (b"vary", b""),
    (b"via", b""),
    (b"www-authenticate", b""),
)

# Per RFC 7541 section 4.1, every entry costs its name, its value and 32 octets.
ENTRY_OVERHEAD = 32
DEFAULT_TABLE_SIZE = 4096
# The most a decoded header list may cost (names + values + 32 per field); the
# shim announces it as SETTINGS_MAX_HEADER_LIST_SIZE.
MAX_HEADER_LIST_SIZE = 65_536


class HpackError(ValueError):
    """A header block that cannot be decoded (a COMPRESSION_ERROR)."""


def encode_integer(value: int, prefix_bits: int, first_byte_flags: int = 0) -> bytes:
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes((first_byte_flags | value,))
    out = bytearray((first_byte_flags | limit,))
    value -= limit
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def encode_literal_headers(headers: list[tuple[bytes, bytes]]) -> bytes:
    """A header block of literal-without-indexing, new-name, raw-string fields."""
    out = bytearray()
    for name, value in headers:
        out.append(0x00)
        out += encode_integer(len(name), 7) + name
        out += encode_integer(len(value), 7) + value
    return bytes(out)


class HeaderDecoder:
    """Decodes header blocks of one connection, keeping its dynamic table."""

    __slots__ = ("_dynamic", "_max_size", "_size", "_size_limit")

    def __init__(self, max_table_size: int = DEFAULT_TABLE_SIZE) -> None:
        self._dynamic: list[tuple[bytes, bytes]] = []  # newest first
        self._size = 0
        self._max_size = max_table_size
        self._size_limit = max_table_size  # what we announced in SETTINGS

    def decode(self, block: bytes) -> list[tuple[bytes, bytes]]:
        headers: list[tuple[bytes, bytes]] = []
        list_size = 0
        pos = 0
        while pos < len(block):
            emitted = len(headers)
            first = block[pos]
            if first & 0x80:  # indexed header field
                index, pos = self._integer(block, pos, 7)
                headers.append(self._entry(index))
            elif first & 0x40:  # literal with incremental indexing
                name, value, pos = self._literal(block, pos, 6)
                headers.append((name, value))
                self._insert(name, value)
            elif first & 0x20:  # dynamic table size update
                size, pos = self._integer(block, pos, 5)
                if size > self._size_limit:
                    raise HpackError("table size update above the announced limit")
                self._max_size = size
                self._evict(0)
            else:  # literal without indexing (0000) or never indexed (0001)
                name, value, pos = self._literal(block, pos, 4)
                headers.append((name, value))
            if len(headers) > emitted:
                name, value = headers[-1]
                list_size += len(name) + len(value) + ENTRY_OVERHEAD
                if list_size > MAX_HEADER_LIST_SIZE:
                    raise HpackError("header list larger than the announced limit")
        return headers

    def _integer(self, block: bytes, pos: int, prefix_bits: int) -> tuple[int, int]:
        limit = (1 << prefix_bits) - 1
        value = block[pos] & limit
        pos += 1
        if value < limit:
            return value, pos
        shift = 0
        while True:
            if pos >= len(block) or shift > 28:
                raise HpackError("truncated or oversized integer")
            byte = block[pos]
            pos += 1
            value += (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                return value, pos

    def _string(self, block: bytes, pos: int) -> tuple[bytes, int]:
        if pos >= len(block):
            raise HpackError("truncated string")
        huffman = block[pos] & 0x80
        length, pos = self._integer(block, pos, 7)
        if pos + length > len(block):
            raise HpackError("truncated string")
        raw = block[pos : pos + length]
        if not huffman:
            return raw, pos + length
        try:
            return huffman_decode(raw), pos + length
        except HuffmanError as error:
            raise HpackError(str(error)) from error

    def _literal(self, block: bytes, pos: int, prefix_bits: int) -> tuple[bytes, bytes, int]:
        index, pos = self._integer(block, pos, prefix_bits)
        if index:
            name = self._entry(index)[0]
        else:
            name, pos = self._string(block, pos)
        value, pos = self._string(block, pos)
        return name, value, pos

    def _entry(self, index: int) -> tuple[bytes, bytes]:
        if 1 <= index <= len(STATIC_TABLE):
            return STATIC_TABLE[index - 1]
        dynamic_index = index - len(STATIC_TABLE) - 1
        if 0 <= dynamic_index < len(self._dynamic):
            return self._dynamic[dynamic_index]
        raise HpackError(f"header table index {index} out of range")

    def _insert(self, name: bytes, value: bytes) -> None:
        entry_size = len(name) + len(value) + ENTRY_OVERHEAD
        self._evict(entry_size)
        if entry_size <= self._max_size:
            self._dynamic.insert(0, (name, value))
            self._size += entry_size

    def _evict(self, room_needed: int) -> None:
        while self._dynamic and self._size + room_needed > self._max_size:
            name, value = self._dynamic.pop()
            self._size -= len(name) + len(value) + ENTRY_OVERHEAD
