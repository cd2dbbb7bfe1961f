"""Framing cases grpcio's server never produces, against a scripted HTTP/2 peer."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from cni_shim.transport import PING, SETTINGS
from tests.shim.conftest import attachment_env, network_config, run_shim
from tests.shim.scripted_http2 import (
    FLAG_ACK,
    PING_PAYLOAD,
    ScriptedPeer,
    answer_after_stalling,
    answer_without_reading_the_body,
    close_after_headers,
    go_away_before_accepting,
    reset_stream,
)

REPLY = b'{"cniVersion":"1.1.0","interfaces":[]}'


def test_flow_control_stall_ping_padding_and_continuation(shim: Path, short_dir: Path) -> None:
    socket_path = short_dir / "agent.sock"
    config = network_config(agentSocket=str(socket_path), pad="p" * 100_000)

    def script(peer: ScriptedPeer) -> None:
        answer_after_stalling(peer, REPLY, 3)

    with ScriptedPeer(socket_path, script) as peer:
        done = run_shim(shim, attachment_env("ADD"), config, timeout=20)
    record = peer.record
    assert record.error == ""
    assert (done.returncode, done.stdout) == (3, REPLY), done.stderr
    assert record.data_before_credit == 65_535  # used the whole default window, not a byte more
    assert record.stalled
    assert record.request_body()[5:].endswith(config)
    assert record.has(SETTINGS, FLAG_ACK)
    pings = [f for f in record.frames if f.frame_type == PING]
    assert [(f.flags, f.payload) for f in pings] == [(FLAG_ACK, PING_PAYLOAD)]


def test_reply_sent_before_the_agent_closed_is_read(shim: Path, short_dir: Path) -> None:
    socket_path = short_dir / "agent.sock"
    # Far more than a unix socket buffers (~200 KiB), so the shim is mid-write when the
    # peer closes; under the shim's 1 MiB stdin bound.
    config = network_config(agentSocket=str(socket_path), pad="p" * 1_000_000)

    def script(peer: ScriptedPeer) -> None:
        answer_without_reading_the_body(peer, REPLY, 3)

    with ScriptedPeer(socket_path, script) as peer:
        done = run_shim(shim, attachment_env("ADD"), config, timeout=20)
    assert peer.record.error == ""
    assert (done.returncode, done.stdout) == (3, REPLY), done.stderr


@pytest.mark.parametrize(
    ("script", "reason"),
    [
        (reset_stream, "RST_STREAM (error 2)"),
        (go_away_before_accepting, "GOAWAY before our call was accepted (error 11)"),
        (close_after_headers, "connection closed before the reply was complete"),
    ],
    ids=["rst-stream", "goaway", "eof"],
)
def test_broken_calls_mean_unreachable(
    shim: Path, short_dir: Path, script: Callable[[ScriptedPeer], None], reason: str
) -> None:
    socket_path = short_dir / "agent.sock"
    config = network_config(agentSocket=str(socket_path))
    with ScriptedPeer(socket_path, script) as peer:
        done = run_shim(shim, attachment_env("ADD"), config, timeout=20)
    assert peer.record.error == ""
    assert done.returncode == 1
    assert json.loads(done.stdout)["code"] == 11
    assert json.loads(done.stdout)["details"] == reason
