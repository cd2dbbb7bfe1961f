"""The shim's own settings, read from the plugin's network configuration.

A plain class, not a frozen dataclass: `import dataclasses` alone costs about
20 ms, more than twice the interpreter's start-up. Treat instances as read-only.
"""

from __future__ import annotations

from podnet.shim.defaults import DEFAULT_AGENT_SOCKET, DEFAULT_SPOOL_DIR

from cni_shim.config_scan import top_level_members

DEFAULT_TIMEOUT_SECONDS = 30.0
# STATUS is polled every few seconds by containerd; a slow answer is a failed one.
STATUS_TIMEOUT_SECONDS = 5.0


class ShimSettings:
    __slots__ = ("agent_socket", "cni_version", "decode_error", "spool_dir", "timeout_seconds")

    def __init__(
        self,
        agent_socket: str = DEFAULT_AGENT_SOCKET,
        spool_dir: str = DEFAULT_SPOOL_DIR,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        cni_version: str = "",
        decode_error: str = "",
    ) -> None:
        self.decode_error = decode_error  # why stdin is not a JSON object; "" when it is
        self.agent_socket = agent_socket
        self.spool_dir = spool_dir
        self.timeout_seconds = timeout_seconds
        self.cni_version = cni_version

    def timeout_for(self, command: str) -> float:
        if command == "STATUS":
            return min(self.timeout_seconds, STATUS_TIMEOUT_SECONDS)
        return self.timeout_seconds


def read_shim_settings(config: bytes) -> ShimSettings:
    """Settings from the raw configuration; defaults for whatever is absent or unreadable."""
    try:
        members = top_level_members(config.decode("utf-8"))
    except ValueError as error:
        return ShimSettings(decode_error=str(error) or "invalid JSON")
    agent_socket = members.get("agentSocket")
    spool_dir = members.get("spoolDir")
    timeout = members.get("timeoutSeconds")
    cni_version = members.get("cniVersion")
    return ShimSettings(
        agent_socket=agent_socket
        if isinstance(agent_socket, str) and agent_socket
        else DEFAULT_AGENT_SOCKET,
        spool_dir=spool_dir if isinstance(spool_dir, str) and spool_dir else DEFAULT_SPOOL_DIR,
        timeout_seconds=(
            float(timeout)
            if isinstance(timeout, int | float) and not isinstance(timeout, bool) and timeout > 0
            else DEFAULT_TIMEOUT_SECONDS
        ),
        cni_version=cni_version if isinstance(cni_version, str) else "",
    )
