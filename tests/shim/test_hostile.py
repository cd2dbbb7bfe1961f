"""A hostile or broken agent, and hostile configurations: bounded, refused, never hung."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from podnet.shim.spool import load_spooled

from cni_shim.settings import MAX_CONFIG_BYTES
from cni_shim.transport import SETTING_ENABLE_PUSH, SETTING_INITIAL_WINDOW_SIZE
from tests.shim.conftest import StandInAgent, attachment_env, network_config, run_shim
from tests.shim.conftest import run_shim_async as run_async
from tests.shim.scripted_http2 import (
    ScriptedPeer,
    endless_header_block,
    flood_after_headers,
    huge_header_list,
    overflows_the_send_window,
    sends_settings,
)

SETTING_MAX_FRAME_SIZE = 0x5


def run_against(
    shim: Path, short_dir: Path, script: Callable[[ScriptedPeer], None], timeout: float
) -> tuple[dict[str, object], float]:
    """The shim's ADD answer against a scripted peer, and how long it took."""
    socket_path = short_dir / "agent.sock"
    config = network_config(agentSocket=str(socket_path), timeoutSeconds=timeout)
    with ScriptedPeer(socket_path, script):
        started = time.monotonic()
        done = run_shim(shim, attachment_env("ADD"), config, timeout=30)
        elapsed = time.monotonic() - started
    assert done.returncode == 1, done.stderr
    reply: dict[str, object] = json.loads(done.stdout)
    assert reply["code"] == 11
    return reply, elapsed


def test_deadline_holds_while_frames_keep_coming(shim: Path, short_dir: Path) -> None:
    reply, elapsed = run_against(shim, short_dir, flood_after_headers, timeout=0.5)
    assert reply["details"] == "deadline of 0.5s exceeded"
    assert elapsed < 3  # the peer floods for 8 s


def test_endless_continuation_is_cut_off(shim: Path, short_dir: Path) -> None:
    reply, elapsed = run_against(shim, short_dir, endless_header_block, timeout=20)
    assert reply["details"] == "header block larger than 65536 bytes"
    assert elapsed < 5


def test_header_list_beyond_the_announced_size_is_refused(shim: Path, short_dir: Path) -> None:
    reply, _ = run_against(shim, short_dir, huge_header_list, timeout=20)
    assert reply["details"] == "undecodable reply: header list larger than the announced limit"


@pytest.mark.parametrize(
    ("identifier", "value", "details"),
    [
        (SETTING_ENABLE_PUSH, 2, "invalid SETTINGS_ENABLE_PUSH 2"),
        (SETTING_INITIAL_WINDOW_SIZE, 1 << 31, "invalid SETTINGS_INITIAL_WINDOW_SIZE 2147483648"),
        (SETTING_MAX_FRAME_SIZE, 0, "invalid SETTINGS_MAX_FRAME_SIZE 0"),
        (SETTING_MAX_FRAME_SIZE, 16_383, "invalid SETTINGS_MAX_FRAME_SIZE 16383"),
        (SETTING_MAX_FRAME_SIZE, 1 << 24, "invalid SETTINGS_MAX_FRAME_SIZE 16777216"),
    ],
    ids=["push-2", "window-2^31", "frame-0", "frame-16383", "frame-2^24"],
)
def test_invalid_settings_are_refused(
    shim: Path, short_dir: Path, identifier: int, value: int, details: str
) -> None:
    reply, elapsed = run_against(shim, short_dir, sends_settings(identifier, value), timeout=20)
    assert reply["details"] == details
    assert elapsed < 5


def test_send_window_overflow_is_refused(shim: Path, short_dir: Path) -> None:
    reply, _ = run_against(shim, short_dir, overflows_the_send_window, timeout=20)
    assert reply["details"] == "flow-control window above 2^31-1"


def padded_config(socket_path: Path, size: int) -> bytes:
    config = network_config(agentSocket=str(socket_path), pad="")
    config = config.replace(b'"pad": ""', b'"pad": "' + b"p" * (size - len(config)) + b'"')
    assert len(config) == size
    return config


async def test_stdin_bound(shim: Path, agent: StandInAgent) -> None:
    at_bound = padded_config(agent.socket_path, MAX_CONFIG_BYTES)
    code, stdout, _ = await run_async(shim, attachment_env("ADD"), at_bound)
    assert (code, stdout) == (0, b"")
    assert agent.servicer.calls[-1].config == at_bound

    beyond = padded_config(agent.socket_path, MAX_CONFIG_BYTES + 1)
    code, stdout, stderr = await run_async(shim, attachment_env("ADD"), beyond)
    assert code == 1
    reply = json.loads(stdout)
    assert (reply["code"], reply["msg"]) == (6, "network configuration too large")
    assert reply["details"] == "more than 1048576 bytes on stdin"
    assert stderr == b""
    assert len(agent.servicer.calls) == 1  # not forwarded


@pytest.mark.parametrize("command", ["ADD", "DEL"])
async def test_nul_in_agent_socket_is_refused(
    shim: Path, agent: StandInAgent, command: str
) -> None:
    # Cut at the NUL, the path would be the agent's own socket.
    config = network_config(agentSocket=f"{agent.socket_path}\0.other", cniVersion="1.0.0")
    code, stdout, _ = await run_async(shim, attachment_env(command), config)
    assert code == 1
    reply = json.loads(stdout)
    assert (reply["code"], reply["cniVersion"]) == (7, "1.0.0")
    assert reply["details"] == "agentSocket contains a NUL character"
    assert agent.servicer.calls == []


def test_nul_in_spool_dir_is_refused(shim: Path, short_dir: Path) -> None:
    spool = short_dir / "spool"
    config = network_config(agentSocket=str(short_dir / "none.sock"), spoolDir=f"{spool}\0x")
    done = run_shim(shim, attachment_env("DEL"), config)
    assert done.returncode == 1
    reply = json.loads(done.stdout)
    assert reply["code"] == 7
    assert reply["details"] == "spoolDir contains a NUL character"
    assert not spool.exists()
    assert load_spooled(spool) == []


def test_lone_surrogate_in_agent_socket_is_refused(shim: Path, short_dir: Path) -> None:
    config = b'{"cniVersion":"1.1.0","name":"n","type":"podnet","agentSocket":"/run/\\udc80.sock"}'
    done = run_shim(shim, attachment_env("ADD"), config)
    assert done.returncode == 1
    assert json.loads(done.stdout)["code"] == 7
    assert json.loads(done.stdout)["details"] == "agentSocket is not valid Unicode"
