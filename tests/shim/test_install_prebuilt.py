"""`podnet-install-shim --prebuilt`: how a container image's static shim reaches the host."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.shim.conftest import cni_env, run_shim


def _install(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "cni_shim.install", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_prebuilt_shim_is_copied_executable_and_answers(native_shim: Path, tmp_path: Path) -> None:
    bin_dir = tmp_path / "host" / "opt" / "cni" / "bin"
    done = _install("--bin-dir", str(bin_dir), "--prebuilt", str(native_shim))
    assert done.returncode == 0, done.stderr
    installed = bin_dir / "podnet"
    assert done.stdout.strip() == str(installed)
    assert installed.read_bytes() == native_shim.read_bytes()
    assert installed.stat().st_mode & 0o777 == 0o755
    assert [p.name for p in bin_dir.iterdir()] == ["podnet"]  # no temp file left
    probe = run_shim(installed, cni_env("VERSION"), b"{}")
    assert json.loads(probe.stdout)["cniVersion"] == "1.1.0"


def test_prebuilt_replaces_an_older_shim(native_shim: Path, tmp_path: Path) -> None:
    (tmp_path / "podnet").write_bytes(b"\x7fELF old")
    done = _install("--bin-dir", str(tmp_path), "--prebuilt", str(native_shim))
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "podnet").read_bytes() == native_shim.read_bytes()


def test_a_missing_or_non_elf_source_fails_and_keeps_the_installed_shim(tmp_path: Path) -> None:
    existing = tmp_path / "podnet"
    existing.write_bytes(b"\x7fELF working")
    script = tmp_path / "not-a-shim"
    script.write_text("#!/bin/sh\n")
    for source, reason in ((tmp_path / "absent", "cannot read"), (script, "not an ELF")):
        done = _install("--bin-dir", str(tmp_path), "--prebuilt", str(source))
        assert done.returncode == 1
        assert done.stderr.count("\n") == 1
        assert done.stderr.startswith("podnet-install-shim: ") and reason in done.stderr
        assert existing.read_bytes() == b"\x7fELF working"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not-a-shim", "podnet"]


def test_prebuilt_and_python_are_exclusive(tmp_path: Path) -> None:
    done = _install("--bin-dir", str(tmp_path), "--python", "--prebuilt", "/bin/true")
    assert done.returncode == 2
    assert "not allowed with" in done.stderr
