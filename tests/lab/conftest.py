"""A lab CLI runner with a unique prefix and a short temp state dir, always torn down."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

LAB_CLI = str(Path(sys.executable).parent / "podnet-lab")


@dataclass(frozen=True)
class LabRunner:
    prefix: str
    state_dir: Path

    def argv(self, *args: str) -> list[str]:
        return [LAB_CLI, "--prefix", self.prefix, "--state-dir", str(self.state_dir), *args]

    def run(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.argv(*args), capture_output=True, text=True, timeout=timeout, check=False
        )

    def ok(self, *args: str, timeout: float = 120.0) -> str:
        done = self.run(*args, timeout=timeout)
        assert done.returncode == 0, f"{args}: rc {done.returncode}\n{done.stdout}\n{done.stderr}"
        return done.stdout


@pytest.fixture
def lab() -> Iterator[LabRunner]:
    # Short path: agent sockets live below it and unix socket paths are limited.
    parent = Path(tempfile.mkdtemp(prefix="pl-", dir="/tmp"))
    runner = LabRunner(prefix=f"t{uuid.uuid4().hex[:6]}-", state_dir=parent / "s")
    try:
        yield runner
    finally:
        runner.run("down", timeout=120)
        shutil.rmtree(parent, ignore_errors=True)
