"""VERSION is answered by the shim itself, whatever the agent's state."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from podnet.shim.versions import SUPPORTED_VERSIONS

from cni_shim.replies import version_reply
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


def test_version_bytes_identical_to_the_python_reply(shim: Path) -> None:
    done = run_shim(shim, cni_env("VERSION"), b'{"cniVersion":"1.1.0"}')
    assert done.stdout == version_reply()


@pytest.mark.parametrize(
    ("flags", "magic"),
    [((), b"\x7fELF"), (("--static",), b"\x7fELF"), (("--python",), b"#!")],
    ids=["native", "static", "python"],
)
def test_installer_accepts_dest_flag(tmp_path: Path, flags: tuple[str, ...], magic: bytes) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "cni_shim.install", *flags, "--dest", str(tmp_path / "bin")],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == b""  # no fallback warning
    installed = tmp_path / "bin" / "podnet"
    assert installed.stat().st_mode & 0o777 == 0o755
    assert installed.read_bytes().startswith(magic)
    if magic == b"#!":
        assert b" -IS\n" in installed.read_bytes()
    probe = run_shim(installed, cni_env("VERSION"), b"{}")
    assert json.loads(probe.stdout) == EXPECTED
    assert [p.name for p in installed.parent.iterdir()] == ["podnet"]  # no temp file left
