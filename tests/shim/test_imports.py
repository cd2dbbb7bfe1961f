"""The shim's start-up is podnet's latency floor: it must not import heavy modules."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.shim.conftest import StandInAgent, attachment_env, network_config

# Runs the launcher exactly as the kernel would (python -IS launcher), then
# records which modules were loaded when it exited.
RECORDER = """
import sys
launcher, record = sys.argv[1], sys.argv[2]
sys.argv = [launcher]
try:
    exec(compile(open(launcher).read(), launcher, "exec"), {"__name__": "__main__"})
except SystemExit:
    pass
finally:
    with open(record, "w") as out:
        out.write("\\n".join(sorted(sys.modules)))
"""

HEAVY = ("grpc", "google", "pyroute2", "aiohttp", "aetcd")
# Measured start-up costs (python -IS): typing 12 ms, dataclasses 20 ms,
# json 10 ms, re 9 ms, enum 6 ms -- a bare interpreter is 8 ms.
AVOIDED = ("typing", "dataclasses", "json", "re", "enum", "socket", "pathlib")


@pytest.fixture
def shim(python_shim: Path) -> Path:
    """Only the Python launcher imports modules; the native shim has its own tests."""
    return python_shim


def loaded_modules(shim: Path, env: dict[str, str], stdin: bytes, record: Path) -> set[str]:
    interpreter = shim.read_text().splitlines()[0][2:].split()[0]
    done = subprocess.run(
        [interpreter, "-IS", "-c", RECORDER, str(shim), str(record)],
        env=env,
        input=stdin,
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return set(record.read_text().split())


def top_level(modules: set[str]) -> set[str]:
    return {name.split(".")[0] for name in modules}


async def test_forwarded_call_imports_nothing_heavy(
    shim: Path, agent: StandInAgent, tmp_path: Path
) -> None:
    import asyncio

    agent.servicer.stdout = b"{}"
    config = network_config(agentSocket=str(agent.socket_path))
    modules = await asyncio.to_thread(
        loaded_modules, shim, attachment_env("ADD"), config, tmp_path / "modules"
    )
    assert len(agent.servicer.calls) == 1
    assert "cni_shim.transport" in modules
    assert not top_level(modules) & set(HEAVY)
    assert not modules & set(AVOIDED)


def test_version_imports_nothing_heavy(shim: Path, tmp_path: Path) -> None:
    env = {"CNI_COMMAND": "VERSION"}
    modules = loaded_modules(shim, env, b'{"cniVersion":"1.1.0"}', tmp_path / "modules")
    assert "cni_shim.main" in modules
    assert not top_level(modules) & set(HEAVY)
    assert not modules & set(AVOIDED)
    assert "grpc" in sys.modules  # the test process itself did import it: the check is real
