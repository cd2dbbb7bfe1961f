"""Agent down: ADD/CHECK/GC say 11, STATUS says 50, DEL is spooled and succeeds."""

from __future__ import annotations

import json
import socket
import stat
from pathlib import Path

import pytest
from podnet.shim.spool import load_spooled

from tests.shim.conftest import attachment_env, cni_env, network_config, run_shim


def config_for(directory: Path, version: str = "1.1.0", **fields: object) -> bytes:
    return network_config(
        cniVersion=version,
        agentSocket=str(directory / "agent.sock"),
        spoolDir=str(directory / "spool"),
        **fields,
    )


@pytest.mark.parametrize(
    ("command", "version", "code"),
    [("ADD", "1.1.0", 11), ("ADD", "0.3.1", 11), ("CHECK", "0.4.0", 11), ("GC", "1.1.0", 11)],
)
def test_agent_missing_gives_try_again_later(
    shim: Path, short_dir: Path, command: str, version: str, code: int
) -> None:
    env = attachment_env(command) if command != "GC" else cni_env("GC", path="/opt/cni/bin")
    done = run_shim(shim, env, config_for(short_dir, version))
    assert done.returncode == 1
    reply = json.loads(done.stdout)
    assert reply["code"] == code
    assert reply["cniVersion"] == version
    assert set(reply) == {"cniVersion", "code", "msg", "details"}
    log = json.loads(done.stderr.decode().strip())
    assert log["level"] == "error" and log["command"] == command


def test_status_gives_plugin_not_available(shim: Path, short_dir: Path) -> None:
    done = run_shim(shim, cni_env("STATUS"), config_for(short_dir))
    assert done.returncode == 1
    assert json.loads(done.stdout)["code"] == 50


def test_refused_connection_gives_try_again_later(shim: Path, short_dir: Path) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as bound_not_listening:
        bound_not_listening.bind(str(short_dir / "agent.sock"))
        done = run_shim(shim, attachment_env("ADD"), config_for(short_dir))
    assert json.loads(done.stdout)["code"] == 11
    assert b"refused" in done.stderr.lower()


def test_del_is_spooled_and_succeeds(shim: Path, short_dir: Path) -> None:
    config = config_for(short_dir, prevResult={"cniVersion": "1.1.0", "ips": []})
    env = attachment_env("DEL", netns="")
    done = run_shim(shim, env, config)
    assert done.returncode == 0
    assert done.stdout == b""
    spool = short_dir / "spool"
    assert stat.S_IMODE(spool.stat().st_mode) == 0o700
    (spooled,) = load_spooled(spool)
    assert stat.S_IMODE(spooled.path.stat().st_mode) == 0o600
    invocation = spooled.invocation
    assert invocation.command == "DEL"
    assert invocation.container_id == env["CNI_CONTAINERID"]
    assert invocation.ifname == "eth0"
    assert invocation.netns == ""
    assert invocation.args == env["CNI_ARGS"]
    assert invocation.path == env["CNI_PATH"]
    assert invocation.config == config
    assert invocation.replayed is True
    assert json.loads(done.stderr)["spool"] == str(spooled.path)


def test_second_del_overwrites(shim: Path, short_dir: Path) -> None:
    run_shim(shim, attachment_env("DEL"), config_for(short_dir, mark=1))
    done = run_shim(shim, attachment_env("DEL", netns=""), config_for(short_dir, mark=2))
    assert done.returncode == 0
    (spooled,) = load_spooled(short_dir / "spool")
    assert json.loads(spooled.invocation.config)["mark"] == 2
    assert spooled.invocation.netns == ""
    other = run_shim(shim, attachment_env("DEL", ifname="net1"), config_for(short_dir))
    assert other.returncode == 0
    assert len(load_spooled(short_dir / "spool")) == 2


def test_del_without_container_id_cannot_be_spooled(shim: Path, short_dir: Path) -> None:
    done = run_shim(shim, attachment_env("DEL", containerid=""), config_for(short_dir))
    assert done.returncode == 1
    assert json.loads(done.stdout)["code"] == 4
    assert not (short_dir / "spool").exists()


def test_del_spool_failure_is_io_error(shim: Path, short_dir: Path) -> None:
    blocker = short_dir / "file"
    blocker.write_text("not a directory")
    config = network_config(agentSocket=str(short_dir / "agent.sock"), spoolDir=str(blocker / "x"))
    done = run_shim(shim, attachment_env("DEL"), config)
    assert done.returncode == 1
    assert json.loads(done.stdout)["code"] == 5


def test_unparseable_stdin_is_a_decoding_failure_answered_by_the_shim(shim: Path) -> None:
    done = run_shim(shim, attachment_env("ADD"), b"{not json")
    assert done.returncode == 1
    reply = json.loads(done.stdout)
    assert reply["code"] == 6
    assert reply["cniVersion"] == "1.1.0"
