"""The HPACK static Huffman code (RFC 7541, Appendix B).

The code is canonical: codes of equal length are consecutive and ordered by
symbol, each length continuing where the shorter one stopped. So the code
lengths alone define it; codes are derived from them on first use.
"""

from __future__ import annotations

EOS = 256

# Code length in bits of each symbol 0..255 and EOS (256), from RFC 7541 Appendix B.
CODE_LENGTHS = (
    13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,  # 0-15
    28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,  # 16-31
    6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,  # 32-47
    5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,  # 48-63
    13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,  # 64-79
    7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,  # 80-95
    15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,  # 96-111
    6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,  # 112-127
    20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,  # 128-143
    24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,  # 144-159
    22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,  # 160-175
    21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,  # 176-191
    26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,  # 192-207
    19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,  # 208-223
    20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,  # 224-239
    26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,  # 240-255
    30,  # EOS
)  # fmt: skip

_MAX_LENGTH = 30


class HuffmanError(ValueError):
    """A Huffman-coded string that RFC 7541 section 5.2 forbids."""


class _CanonicalCode:
    """first code, symbol count and offset into the sorted symbols, per length."""

    __slots__ = ("codes", "count", "first_code", "offset", "symbols")

    def __init__(self) -> None:
        self.symbols = sorted(range(len(CODE_LENGTHS)), key=lambda s: (CODE_LENGTHS[s], s))
        self.count = [0] * (_MAX_LENGTH + 1)
        for length in CODE_LENGTHS:
            self.count[length] += 1
        self.first_code = [0] * (_MAX_LENGTH + 1)
        self.offset = [0] * (_MAX_LENGTH + 1)
        code = 0
        index = 0
        for length in range(1, _MAX_LENGTH + 1):
            self.first_code[length] = code
            self.offset[length] = index
            code = (code + self.count[length]) << 1
            index += self.count[length]
        self.codes = [0] * len(CODE_LENGTHS)
        for position, symbol in enumerate(self.symbols):
            length = CODE_LENGTHS[symbol]
            self.codes[symbol] = self.first_code[length] + position - self.offset[length]


_code: _CanonicalCode | None = None


def _canonical() -> _CanonicalCode:
    global _code
    if _code is None:
        _code = _CanonicalCode()
    return _code


def huffman_decode(data: bytes) -> bytes:
    table = _canonical()
    out = bytearray()
    code = 0
    length = 0
    for byte in data:
        for shift in range(7, -1, -1):
            code = code << 1 | (byte >> shift) & 1
            length += 1
            index = code - table.first_code[length]
            if 0 <= index < table.count[length]:
                symbol = table.symbols[table.offset[length] + index]
                if symbol == EOS:
                    raise HuffmanError("EOS symbol inside a string")
                out.append(symbol)
                code = 0
                length = 0
            elif length >= _MAX_LENGTH:
                raise HuffmanError("invalid code")
    if length > 7 or code != (1 << length) - 1:
        raise HuffmanError("padding is not a prefix of EOS")
    return bytes(out)


def huffman_encode(data: bytes) -> bytes:
    table = _canonical()
    bits = 0
    nbits = 0
    for byte in data:
        bits = bits << CODE_LENGTHS[byte] | table.codes[byte]
        nbits += CODE_LENGTHS[byte]
    padding = -nbits % 8
    bits = bits << padding | (1 << padding) - 1
    return (bits).to_bytes((nbits + padding) // 8, "big")
