"""The only bytes the shim writes itself: the VERSION answer and local CNI errors.

Error codes used here (the spec's; netagent.cni.errors holds the full tree):
4 invalid environment, 5 I/O failure, 6 decoding failure, 7 invalid network
configuration, 11 try again later, 50 plugin not available.
"""

from __future__ import annotations

from podnet.shim.versions import LATEST_VERSION, SUPPORTED_VERSIONS

INVALID_ENVIRONMENT = 4
IO_FAILURE = 5
DECODING_FAILURE = 6
INVALID_NETWORK_CONFIG = 7
TRY_AGAIN_LATER = 11
NOT_AVAILABLE = 50

_JSON_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def json_string(text: str) -> str:
    """text as a JSON string literal (ASCII-only output)."""
    out = ['"']
    for char in text:
        if char in _JSON_ESCAPES:
            out.append(_JSON_ESCAPES[char])
        elif " " <= char <= "~":
            out.append(char)
        elif ord(char) > 0xFFFF:
            code = ord(char) - 0x10000
            out.append(f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}")
        else:
            out.append(f"\\u{ord(char):04x}")
    out.append('"')
    return "".join(out)


def version_reply() -> bytes:
    versions = ",".join(json_string(version) for version in SUPPORTED_VERSIONS)
    return f'{{"cniVersion":"{LATEST_VERSION}","supportedVersions":[{versions}]}}\n'.encode()


def reply_version(requested: str) -> str:
    """The cniVersion to put in a reply: the requested one if podnet speaks it."""
    return requested if requested in SUPPORTED_VERSIONS else LATEST_VERSION


def error_reply(cni_version: str, code: int, msg: str, details: str = "") -> bytes:
    return (
        f'{{"cniVersion":{json_string(reply_version(cni_version))},"code":{code},'
        f'"msg":{json_string(msg)},"details":{json_string(details)}}}\n'
    ).encode()


def log_line(level: str, msg: str, **fields: str) -> str:
    """One structured (JSON) log line for stderr."""
    parts = [f'"level":{json_string(level)}', '"logger":"podnet-shim"', f'"msg":{json_string(msg)}']
    parts += [f"{json_string(key)}:{json_string(value)}" for key, value in fields.items()]
    return "{" + ",".join(parts) + "}\n"
