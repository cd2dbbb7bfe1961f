"""podnet's image, built by scripts/build-image.sh when missing or stale (a few minutes
the first time; about a second when its source-hash label matches the sources)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.lab.conftest import LabRunner
from tools.lab.agent_container import IMAGE_SHIM, PODMAN, ULIMITS

REPO = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO / "scripts" / "build-image.sh"
BUILD_TIMEOUT_SECONDS = 1800.0


def run_build(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BUILD_SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_SECONDS,
        check=False,
        env={**os.environ, "PODNET_BUILD_PYTHON": sys.executable},
    )


def podman(
    *args: str, stdin: str | None = None, timeout: float = 120.0
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PODMAN, *args], input=stdin, capture_output=True, text=True, timeout=timeout, check=False
    )


def run_in_image(image: str, *argv: str, options: tuple[str, ...] = ()) -> str:
    """argv's stdout in a throwaway container of image (no network); fails on error."""
    done = podman(
        "run", "--rm", "--pull", "never", "--network", "none", *ULIMITS, *options, image, *argv
    )
    assert done.returncode == 0, f"{argv}: {done.stderr}"
    return done.stdout


def copy_out_shim(image: str, directory: Path) -> Path:
    """The image's static shim, copied to directory/podnet."""
    run_in_image(image, "cp", IMAGE_SHIM, "/out/podnet", options=("--volume", f"{directory}:/out"))
    return directory / "podnet"


@pytest.fixture(scope="session")
def podnet_image() -> str:
    """The image's name; built here when it is missing or its sources changed."""
    done = run_build()
    assert done.returncode == 0, f"build-image.sh failed:\n{done.stderr}"
    print(done.stderr.strip().splitlines()[-1])
    return done.stdout.strip().splitlines()[-1]


@pytest.fixture
def lab() -> Iterator[LabRunner]:
    """A lab runner with a unique prefix, always brought down (containers too)."""
    parent = Path(tempfile.mkdtemp(prefix="pl-", dir="/tmp"))
    runner = LabRunner(prefix=f"t{uuid.uuid4().hex[:6]}-", state_dir=parent / "s")
    try:
        yield runner
    finally:
        runner.run("down", timeout=120)
        shutil.rmtree(parent, ignore_errors=True)
