"""The shim against a real grpc.aio server speaking the CniAgent contract."""

from __future__ import annotations

import json
import time
from pathlib import Path

import grpc
from podnet.shim.spool import load_spooled

from tests.shim.conftest import (
    StandInAgent,
    attachment_env,
    cni_env,
    network_config,
    run_shim_async,
)


async def test_every_field_forwarded_exactly(shim: Path, agent: StandInAgent) -> None:
    env = attachment_env(
        "ADD",
        containerid="3f6940ab5ab43bc522569d15b23f8c1bbde1d7678b080398506924fc01d72755",
        netns="/proc/4242/fd/7",
        ifname="eth0",
        args="IgnoreUnknown=1;K8S_POD_NAMESPACE=ns-ü;K8S_POD_NAME=web;K8S_POD_UID=u1",
        path="/opt/cni/bin:/usr/lib/cni",
    )
    # Bigger than the 64 KiB initial flow-control windows and several 16 KiB frames.
    config = network_config(agentSocket=str(agent.socket_path), blob="é✓" * 60_000)
    assert len(config) > 3 * 65_535
    agent.servicer.stdout = b'{"cniVersion":"1.1.0","ips":[]}'
    code, stdout, stderr = await run_shim_async(shim, env, config)
    assert (code, stdout, stderr) == (0, b'{"cniVersion":"1.1.0","ips":[]}', b"")
    (call,) = agent.servicer.calls
    assert call.command == "ADD"
    assert call.container_id == env["CNI_CONTAINERID"]
    assert call.netns == env["CNI_NETNS"]
    assert call.ifname == env["CNI_IFNAME"]
    assert call.args == env["CNI_ARGS"]
    assert call.path == env["CNI_PATH"]
    assert call.config == config
    assert call.replayed is False


async def test_stdout_verbatim_and_exit_code_propagated(shim: Path, agent: StandInAgent) -> None:
    agent.servicer.exit_code = 7
    agent.servicer.stdout = b'{"code":7,"msg":"bad"}\n\x00\xff trailing bytes'
    config = network_config(agentSocket=str(agent.socket_path))
    code, stdout, _ = await run_shim_async(shim, attachment_env("DEL"), config)
    assert code == 7
    assert stdout == agent.servicer.stdout


async def test_status_and_gc_forwarded_with_empty_attachment_env(
    shim: Path, agent: StandInAgent
) -> None:
    config = network_config(
        agentSocket=str(agent.socket_path),
        **{"cni.dev/valid-attachments": [{"containerID": "a", "ifname": "eth0"}]},
    )
    for command in ("STATUS", "GC"):
        code, stdout, _ = await run_shim_async(shim, cni_env(command, path="/opt/cni/bin"), config)
        assert (code, stdout) == (0, b"")
    assert [call.command for call in agent.servicer.calls] == ["STATUS", "GC"]
    assert agent.servicer.calls[1].container_id == ""


async def test_large_reply(shim: Path, agent: StandInAgent) -> None:
    agent.servicer.stdout = json.dumps({"cniVersion": "1.1.0", "pad": "x" * 200_000}).encode()
    config = network_config(agentSocket=str(agent.socket_path))
    code, stdout, _ = await run_shim_async(shim, attachment_env("ADD"), config)
    assert code == 0
    assert stdout == agent.servicer.stdout


async def test_rpc_error_is_try_again_later(shim: Path, agent: StandInAgent) -> None:
    agent.servicer.abort_with = grpc.StatusCode.INTERNAL
    config = network_config(cniVersion="0.4.0", agentSocket=str(agent.socket_path))
    code, stdout, _ = await run_shim_async(shim, attachment_env("ADD"), config)
    assert code == 1
    reply = json.loads(stdout)
    assert reply["code"] == 11
    assert reply["cniVersion"] == "0.4.0"
    assert reply["details"].startswith("grpc-status 13: ")
    assert "agent says no" in reply["details"]


async def test_deadline_honoured_for_add(shim: Path, agent: StandInAgent) -> None:
    agent.servicer.hang = True
    config = network_config(agentSocket=str(agent.socket_path), timeoutSeconds=0.5)
    started = time.monotonic()
    code, stdout, _ = await run_shim_async(shim, attachment_env("ADD"), config)
    elapsed = time.monotonic() - started
    assert code == 1
    assert json.loads(stdout)["code"] == 11
    assert 0.5 <= elapsed < 5
    assert len(agent.servicer.calls) == 1


async def test_deadline_spools_del(shim: Path, agent: StandInAgent, short_dir: Path) -> None:
    agent.servicer.hang = True
    spool = short_dir / "spool"
    config = network_config(
        agentSocket=str(agent.socket_path), timeoutSeconds=0.5, spoolDir=str(spool)
    )
    code, stdout, _ = await run_shim_async(shim, attachment_env("DEL"), config)
    assert (code, stdout) == (0, b"")
    (spooled,) = load_spooled(spool)
    assert spooled.invocation.config == config
