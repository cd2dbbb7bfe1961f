"""A two-node lab for the whole module, with pods on the worker, and the real podnetctl
pointed at it through the podnetctl.json the lab writes."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.ipamd.conftest import ipamd_factory  # noqa: F401  (a fixture, for ipamd tests here)
from tests.lab.conftest import LabRunner

PODNETCTL = str(Path(sys.executable).parent / "podnetctl")
PODS = 3


@dataclass(frozen=True)
class Ctl:
    """podnetctl on the lab's podnetctl.json."""

    lab: LabRunner

    @property
    def config(self) -> Path:
        return self.lab.state_dir / "podnetctl.json"

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [PODNETCTL, *args, "--config", str(self.config)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    def json(self, *args: str, status: int = 0) -> Any:
        done = self.run(*args, "--json")
        assert done.returncode == status, (
            f"{args}: rc {done.returncode}\n{done.stdout}{done.stderr}"
        )
        return json.loads(done.stdout)

    def ok(self, *args: str) -> str:
        done = self.run(*args)
        assert done.returncode == 0, f"{args}: rc {done.returncode}\n{done.stdout}{done.stderr}"
        return done.stdout


@pytest.fixture(scope="module")
def running_lab() -> Iterator[LabRunner]:
    parent = Path(tempfile.mkdtemp(prefix="pc-", dir="/tmp"))
    runner = LabRunner(prefix=f"t{uuid.uuid4().hex[:6]}-", state_dir=parent / "s")
    try:
        runner.ok("up", "--nodes", "2", timeout=180)
        runner.ok("pods", "add", "--count", str(PODS))
        yield runner
    finally:
        runner.run("down", timeout=120)
        shutil.rmtree(parent, ignore_errors=True)


@pytest.fixture
def ctl(running_lab: LabRunner) -> Ctl:
    return Ctl(running_lab)
