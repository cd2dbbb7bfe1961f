"""The shim's own settings, read from the plugin's network configuration.

A plain class, not a frozen dataclass: `import dataclasses` alone costs about
20 ms, more than twice the interpreter's start-up. Treat instances as read-only.
"""

from __future__ import annotations

from podnet.shim.defaults import DEFAULT_AGENT_SOCKET, DEFAULT_SPOOL_DIR

from cni_shim.config_scan import top_level_members
from cni_shim.replies import DECODING_FAILURE, INVALID_NETWORK_CONFIG

DEFAULT_TIMEOUT_SECONDS = 30.0
# STATUS is polled every few seconds by containerd; a slow answer is a failed one.
STATUS_TIMEOUT_SECONDS = 5.0
# Keeps deadline arithmetic finite for absurd timeoutSeconds values.
MAX_TIMEOUT_SECONDS = 1e9
# The most stdin (network configuration) the shim reads; more is answered with code 6.
# A configuration with a prevResult is a few KiB; the C shim has the same bound.
MAX_CONFIG_BYTES = 1 << 20
CANNOT_DECODE = "cannot decode network configuration"


class ShimSettings:
    __slots__ = ("agent_socket", "cni_version", "error", "spool_dir", "timeout_seconds")

    def __init__(
        self,
        agent_socket: str = DEFAULT_AGENT_SOCKET,
        spool_dir: str = DEFAULT_SPOOL_DIR,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        cni_version: str = "",
        error: tuple[int, str, str] | None = None,
    ) -> None:
        # (CNI code, msg, details) when the shim must answer the configuration itself.
        self.error = error
        self.agent_socket = agent_socket
        self.spool_dir = spool_dir
        self.timeout_seconds = timeout_seconds
        self.cni_version = cni_version

    def timeout_for(self, command: str) -> float:
        if command == "STATUS":
            return min(self.timeout_seconds, STATUS_TIMEOUT_SECONDS)
        return self.timeout_seconds


def read_shim_settings(config: bytes) -> ShimSettings:
    """Settings from the raw configuration; defaults for whatever is absent."""
    if len(config) > MAX_CONFIG_BYTES:
        details = f"more than {MAX_CONFIG_BYTES} bytes on stdin"
        return ShimSettings(error=(DECODING_FAILURE, "network configuration too large", details))
    try:
        text = config.decode("utf-8")
    except UnicodeDecodeError as error:
        details = f"not UTF-8 at byte {error.start}"
        return ShimSettings(error=(DECODING_FAILURE, CANNOT_DECODE, details))
    try:
        members = top_level_members(text)
    except ValueError as error:
        details = str(error) or "invalid JSON"
        return ShimSettings(error=(DECODING_FAILURE, CANNOT_DECODE, details))
    cni_version = members.get("cniVersion")
    settings = ShimSettings(cni_version=cni_version if isinstance(cni_version, str) else "")
    timeout = members.get("timeoutSeconds")
    if isinstance(timeout, float) and timeout > 0:
        settings.timeout_seconds = min(timeout, MAX_TIMEOUT_SECONDS)
    for key, attribute in (("agentSocket", "agent_socket"), ("spoolDir", "spool_dir")):
        value = members.get(key)
        if not isinstance(value, str) or not value:
            continue
        problem = _path_problem(value)
        if problem:
            details = f"{key} {problem}"
            settings.error = (INVALID_NETWORK_CONFIG, "invalid network configuration", details)
            break
        setattr(settings, attribute, value)
    return settings


def _path_problem(path: str) -> str:
    """Why the kernel cannot take path as given ("" if it can): never cut it short."""
    if "\0" in path:
        return "contains a NUL character"
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate from a \\u escape
        return "is not valid Unicode"
    return ""
