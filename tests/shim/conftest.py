"""Fixtures for running the installed `podnet` executable as a runtime does."""

from __future__ import annotations

import asyncio
import json
import shutil
import subprocess
import tempfile
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpc
import pytest
from podnet.v1 import cni_pb2, cni_pb2_grpc

from cni_shim.install import install_native_shim, install_python_launcher

SHIM_KINDS = ("native", "static", "python")


@pytest.fixture(scope="session")
def native_shim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The compiled shim; building it must work here (no silent fallback)."""
    return install_native_shim(tmp_path_factory.mktemp("cni-bin-native"))


@pytest.fixture(scope="session")
def static_shim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The compiled shim, statically linked (musl-gcc, or cc -static)."""
    return install_native_shim(tmp_path_factory.mktemp("cni-bin-static"), static=True)


@pytest.fixture(scope="session")
def python_shim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The Python launcher, as install.py writes it without a C compiler."""
    return install_python_launcher(tmp_path_factory.mktemp("cni-bin-python"))


@pytest.fixture(scope="session", params=SHIM_KINDS)
def shim(request: pytest.FixtureRequest) -> Path:
    """Each real executable in turn: every shim test runs against all three."""
    path: Path = request.getfixturevalue(f"{request.param}_shim")
    return path


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A directory with a short path: unix socket paths are limited to 107 bytes."""
    path = Path(tempfile.mkdtemp(prefix="pnshim-", dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def cni_env(command: str, **values: str) -> dict[str, str]:
    """The environment libcni gives a plugin: all six CNI_* set, empty where unused."""
    env = {
        "CNI_COMMAND": command,
        "CNI_CONTAINERID": "",
        "CNI_NETNS": "",
        "CNI_IFNAME": "",
        "CNI_ARGS": "",
        "CNI_PATH": "",
    }
    env.update({f"CNI_{key.upper()}": value for key, value in values.items()})
    return env


def attachment_env(command: str, **values: str) -> dict[str, str]:
    defaults = {
        "containerid": "c0ffee01",
        "netns": "/run/netns/pod1",
        "ifname": "eth0",
        "args": "K8S_POD_NAMESPACE=default;K8S_POD_NAME=web",
        "path": "/opt/cni/bin",
    }
    return cni_env(command, **{**defaults, **values})


def network_config(**fields: Any) -> bytes:
    config = {"cniVersion": "1.1.0", "name": "podnet", "type": "podnet", **fields}
    return json.dumps(config).encode()


def run_shim(
    shim: Path, env: Mapping[str, str], stdin: bytes, timeout: float = 30
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [str(shim)], env=dict(env), input=stdin, capture_output=True, timeout=timeout, check=False
    )


async def run_shim_async(
    shim: Path, env: Mapping[str, str], stdin: bytes, seconds_allowed: float = 30
) -> tuple[int, bytes, bytes]:
    """Runs the shim without blocking the event loop the test agent serves on."""
    process = await asyncio.create_subprocess_exec(
        str(shim),
        env=dict(env),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(stdin), seconds_allowed)
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode is not None
    return process.returncode, stdout, stderr


@dataclass
class RecordingAgent(cni_pb2_grpc.CniAgentServicer):
    """A stand-in for the agent: records calls, answers a set outcome."""

    exit_code: int = 0
    stdout: bytes = b""
    hang: bool = False
    abort_with: grpc.StatusCode | None = None
    calls: list[cni_pb2.CniInvocation] = field(default_factory=list)

    async def Invoke(
        self, request: cni_pb2.CniInvocation, context: grpc.aio.ServicerContext[Any, Any]
    ) -> cni_pb2.CniOutcome:
        self.calls.append(request)
        if self.hang:
            await asyncio.sleep(3600)
        if self.abort_with is not None:
            await context.abort(self.abort_with, "agent says no (übel)")
        return cni_pb2.CniOutcome(exit_code=self.exit_code, stdout=self.stdout)


@dataclass
class StandInAgent:
    servicer: RecordingAgent
    socket_path: Path


@pytest.fixture
async def agent(short_dir: Path) -> AsyncIterator[StandInAgent]:
    socket_path = short_dir / "agent.sock"
    servicer = RecordingAgent()
    server = grpc.aio.server()
    cni_pb2_grpc.add_CniAgentServicer_to_server(servicer, server)
    server.add_insecure_port(f"unix:{socket_path}")
    await server.start()
    try:
        yield StandInAgent(servicer, socket_path)
    finally:
        await server.stop(0)
