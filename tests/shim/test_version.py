"""VERSION is answered by the shim itself, whatever the agent's state."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cni_shim.versions import SUPPORTED_VERSIONS
from tests.shim.conftest import cni_env, run_shim

EXPECTED = {"cniVersion": "1.1.0", "supportedVersions": list(SUPPORTED_VERSIONS)}


@pytest.mark.parametrize("version", [*SUPPORTED_VERSIONS, "0.1.0", "0.2.0"])
def test_version_for_each_requested_version(shim: Path, version: str) -> None:
    done = run_shim(shim, cni_env("VERSION"), json.dumps({"cniVersion": version}).encode())
    assert done.returncode == 0
    assert json.loads(done.stdout) == EXPECTED
    assert done.stderr == b""


def test_libcni_dummy_probe(shim: Path) -> None:
    env = cni_env("VERSION", netns="dummy", ifname="dummy", path="dummy")
    done = run_shim(shim, env, b'{"cniVersion":"1.0.0"}')
    assert done.returncode == 0
    assert json.loads(done.stdout) == EXPECTED


def test_missing_command_is_error_4(shim: Path) -> None:
    done = run_shim(shim, cni_env(""), b'{"cniVersion":"1.0.0"}')
    assert done.returncode != 0
    reply = json.loads(done.stdout)
    assert reply["code"] == 4
    assert reply["cniVersion"] == "1.0.0"


def test_unknown_command_is_error_4(shim: Path) -> None:
    done = run_shim(shim, cni_env("FROB"), b'{"cniVersion":"0.4.0"}')
    assert done.returncode != 0
    assert json.loads(done.stdout)["code"] == 4


def test_installer_accepts_dest_flag(tmp_path: Path) -> None:
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "cni_shim.install", "--dest", str(tmp_path / "bin")],
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    launcher = tmp_path / "bin" / "podnet"
    assert launcher.stat().st_mode & 0o111
    assert launcher.read_text().startswith("#!") and " -IS\n" in launcher.read_text()
    probe = run_shim(launcher, cni_env("VERSION"), b"{}")
    assert json.loads(probe.stdout) == EXPECTED
