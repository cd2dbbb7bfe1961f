"""The `podnet` CNI executable: forwards each invocation to the local agent.

VERSION is answered here. Every other verb goes to the agent unchanged
(env + raw stdin) and the agent's stdout bytes and exit code are passed
through. When the agent cannot be reached: ADD, CHECK and GC fail with 11
(try again later), STATUS with 50 (not available), and a DEL is spooled to
disk for the agent to replay and reported as done, so it never blocks pod
deletion. Nothing but the CNI answer ever goes to stdout.
"""

from __future__ import annotations

import os
import sys

from cni_shim.replies import (
    DECODING_FAILURE,
    INVALID_ENVIRONMENT,
    IO_FAILURE,
    NOT_AVAILABLE,
    TRY_AGAIN_LATER,
    error_reply,
    log_line,
    version_reply,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import BinaryIO, TextIO

    from podnet.shim.wire import Invocation

    from cni_shim.settings import ShimSettings

FORWARDED_COMMANDS = ("ADD", "DEL", "CHECK", "GC", "STATUS")
_UNREACHABLE_CODES = {"ADD": TRY_AGAIN_LATER, "CHECK": TRY_AGAIN_LATER, "GC": TRY_AGAIN_LATER}


def main() -> None:
    sys.exit(run(os.environ, sys.stdin.buffer, sys.stdout.buffer, sys.stderr))


def run(environ: Mapping[str, str], stdin: BinaryIO, stdout: BinaryIO, stderr: TextIO) -> int:
    command = environ.get("CNI_COMMAND", "")
    if command == "VERSION":
        stdout.write(version_reply())
        return 0
    # Imported here so that VERSION, run before every podman command, skips them.
    from podnet.shim.wire import Invocation

    from cni_shim.settings import MAX_CONFIG_BYTES, read_shim_settings
    from cni_shim.transport import AgentUnreachable, invoke

    config = stdin.read(MAX_CONFIG_BYTES + 1)  # one byte more tells it is too much
    settings = read_shim_settings(config)
    if command not in FORWARDED_COMMANDS:
        msg = (
            "required env variables [CNI_COMMAND] missing" if not command else "unknown CNI_COMMAND"
        )
        stdout.write(error_reply(settings.cni_version, INVALID_ENVIRONMENT, msg, command))
        return 1
    if settings.error:
        # Answered here: without a usable configuration there is no agent socket to ask.
        code, msg, details = settings.error
        version = "" if code == DECODING_FAILURE else settings.cni_version
        stdout.write(error_reply(version, code, msg, details))
        return 1
    invocation = Invocation(
        command=command,
        container_id=environ.get("CNI_CONTAINERID", ""),
        netns=environ.get("CNI_NETNS", ""),
        ifname=environ.get("CNI_IFNAME", ""),
        args=environ.get("CNI_ARGS", ""),
        path=environ.get("CNI_PATH", ""),
        config=config,
    )
    try:
        exit_code, reply = invoke(settings.agent_socket, invocation, settings.timeout_for(command))
    except AgentUnreachable as error:
        return _answer_unreachable(invocation, settings, str(error), stdout, stderr)
    stdout.write(reply)
    return exit_code


def _answer_unreachable(
    invocation: Invocation,
    settings: ShimSettings,
    reason: str,
    stdout: BinaryIO,
    stderr: TextIO,
) -> int:
    context = {
        "command": invocation.command,
        "container_id": invocation.container_id,
        "ifname": invocation.ifname,
        "netns": invocation.netns,
        "agent_socket": settings.agent_socket,
        "reason": reason,
    }
    if invocation.command == "DEL":
        return _spool(invocation, settings, context, stdout, stderr)
    code = _UNREACHABLE_CODES.get(invocation.command, NOT_AVAILABLE)
    stderr.write(log_line("error", "podnet agent unreachable", **context))
    stdout.write(error_reply(settings.cni_version, code, "podnet agent unreachable", reason))
    return 1


def _spool(
    invocation: Invocation,
    settings: ShimSettings,
    context: dict[str, str],
    stdout: BinaryIO,
    stderr: TextIO,
) -> int:
    if not invocation.container_id or not invocation.ifname:
        stderr.write(log_line("error", "DEL without container id or ifname", **context))
        stdout.write(
            error_reply(
                settings.cni_version,
                INVALID_ENVIRONMENT,
                "required env variables [CNI_CONTAINERID,CNI_IFNAME] missing",
            )
        )
        return 1
    from podnet.shim.spool import spool_del  # only here: pathlib is not free

    try:
        path = spool_del(settings.spool_dir, invocation)
    except OSError as error:
        stderr.write(log_line("error", "agent unreachable and DEL not spooled", **context))
        details = _os_error_text(error)
        stdout.write(error_reply(settings.cni_version, IO_FAILURE, "cannot spool DEL", details))
        return 1
    stderr.write(log_line("warning", "agent unreachable, DEL spooled", spool=str(path), **context))
    return 0


def _os_error_text(error: OSError) -> str:
    """ "<path>: <reason>" (or "<path> -> <other>: <reason>"), as the C shim words it."""
    if error.filename is None or error.strerror is None:
        return str(error)
    if error.filename2 is not None:
        return f"{error.filename} -> {error.filename2}: {error.strerror}"
    return f"{error.filename}: {error.strerror}"
