"""Reads the top-level members of the network configuration the shim needs.

`import json` costs about 10 ms (it pulls in `re` and `enum`), more than the
rest of the shim's start-up together. The shim only needs a few top-level
scalars (agentSocket, timeoutSeconds, spoolDir, cniVersion), so this walks the
top-level object and skips nested values without decoding them. The agent
parses the configuration properly; anything this cannot read is forwarded as is.
"""

from __future__ import annotations

_WHITESPACE = " \t\n\r"
_ESCAPES = {'"': '"', "\\": "\\", "/": "/", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}
_LITERALS = {"true": True, "false": False, "null": None}
_NUMBER_CHARS = frozenset("+-.0123456789eE")
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


class ConfigScanError(ValueError):
    """The configuration is not a JSON object."""


class Nested:
    """Stands for an object or array value that was skipped, not decoded."""

    __slots__ = ()


NESTED = Nested()

Scalar = str | float | bool | None | Nested


def top_level_members(text: str) -> dict[str, Scalar]:
    """Top-level members of a JSON object; objects and arrays become NESTED, numbers float."""
    members: dict[str, Scalar] = {}
    pos = _skip_whitespace(text, 0)
    _expect(text, pos, "{")
    pos = _skip_whitespace(text, pos + 1)
    if text.startswith("}", pos):
        return _end(text, pos + 1, members)
    while True:
        _expect(text, pos, '"')
        key, pos = _string(text, pos)
        pos = _skip_whitespace(text, pos)
        _expect(text, pos, ":")
        pos = _skip_whitespace(text, pos + 1)
        members[key], pos = _value(text, pos)
        pos = _skip_whitespace(text, pos)
        if text.startswith(",", pos):
            pos = _skip_whitespace(text, pos + 1)
        elif text.startswith("}", pos):
            return _end(text, pos + 1, members)
        else:
            raise ConfigScanError(f"expected ',' or '}}' at {pos}")


def _end(text: str, pos: int, members: dict[str, Scalar]) -> dict[str, Scalar]:
    if _skip_whitespace(text, pos) != len(text):
        raise ConfigScanError("trailing data after the object")
    return members


def _expect(text: str, pos: int, char: str) -> None:
    if not text.startswith(char, pos):
        raise ConfigScanError(f"expected {char!r} at {pos}")


def _skip_whitespace(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in _WHITESPACE:
        pos += 1
    return pos


def _string_end(text: str, pos: int) -> int:
    """Index of the quote closing the string that opens at pos."""
    search = pos + 1
    while True:
        end = text.find('"', search)
        if end < 0:
            raise ConfigScanError("unterminated string")
        backslashes = 0
        while text[end - 1 - backslashes] == "\\":
            backslashes += 1
        if backslashes % 2 == 0:
            return end
        search = end + 1


def _string(text: str, pos: int) -> tuple[str, int]:
    end = _string_end(text, pos)
    raw = text[pos + 1 : end]
    if "\\" not in raw:
        return raw, end + 1
    out: list[str] = []
    index = 0
    while index < len(raw):
        char = raw[index]
        if char != "\\":
            out.append(char)
            index += 1
            continue
        escape = raw[index + 1]
        if escape == "u":
            code = _hex_quad(raw, index + 2)
            index += 6
            low_start = raw.startswith("\\u", index)
            if 0xD800 <= code < 0xDC00 and low_start:
                low = _hex_quad(raw, index + 2)
                if 0xDC00 <= low < 0xE000:
                    code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    index += 6
            out.append(chr(code))
        elif escape in _ESCAPES:
            out.append(_ESCAPES[escape])
            index += 2
        elif " " < escape < "\x7f":
            raise ConfigScanError(f"invalid escape \\{escape}")
        else:
            raise ConfigScanError(f"invalid escape at {pos + 1 + index}")
    return "".join(out), end + 1


def _hex_quad(raw: str, start: int) -> int:
    """The four hex digits of a \\u escape (int(..., 16) alone would take "+1", " 1_2")."""
    digits = raw[start : start + 4]
    if len(digits) != 4 or not _HEX_DIGITS.issuperset(digits):
        raise ConfigScanError("invalid \\u escape")
    return int(digits, 16)


def _value(text: str, pos: int) -> tuple[Scalar, int]:
    if pos >= len(text):
        raise ConfigScanError("missing value")
    char = text[pos]
    if char == '"':
        return _string(text, pos)
    if char in "{[":
        return NESTED, _skip_container(text, pos)
    for word, literal in _LITERALS.items():
        if text.startswith(word, pos):
            return literal, pos + len(word)
    end = pos
    while end < len(text) and text[end] in _NUMBER_CHARS:
        end += 1
    try:
        return float(text[pos:end]), end
    except ValueError:
        raise ConfigScanError(f"invalid value at {pos}") from None


def _skip_container(text: str, pos: int) -> int:
    closers: list[str] = []
    while pos < len(text):
        char = text[pos]
        if char == '"':
            pos = _string_end(text, pos) + 1
            continue
        if char == "{":
            closers.append("}")
        elif char == "[":
            closers.append("]")
        elif char in "}]":
            if not closers or closers.pop() != char:
                raise ConfigScanError(f"unbalanced {char!r} at {pos}")
            if not closers:
                return pos + 1
        pos += 1
    raise ConfigScanError("unterminated object or array")
