"""The lab's CNI bin dir: podnet's shim plus the reference plugins it chains to."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tools.lab.daemons import program_path
from tools.lab.errors import LabStartError

REFERENCE_PLUGIN_DIR = Path("/usr/lib/cni")
REFERENCE_PLUGINS = ("portmap", "loopback")


def _installer() -> list[str]:
    try:
        return [program_path("podnet-install-shim")]
    except LabStartError:
        return [sys.executable, "-m", "cni_shim.install"]


def install_cni_bin(bin_dir: Path, with_podnet: bool = True) -> str:
    """Fills bin_dir; returns how podnet got there.

    podnet comes from podnet-install-shim (its flag is --dest by contract,
    --bin-dir in early versions); a link to the venv's `podnet` is the last
    resort. Without with_podnet it is left to the agents' image (`--agent-image`).
    portmap and loopback are links to the Debian reference plugins.
    """
    bin_dir.mkdir(parents=True, exist_ok=True)
    for plugin in REFERENCE_PLUGINS:
        _link(bin_dir / plugin, REFERENCE_PLUGIN_DIR / plugin)
    if not with_podnet:
        return "left to the agents' image"
    how = ""
    for flag in ("--dest", "--bin-dir"):
        done = subprocess.run(
            [*_installer(), flag, str(bin_dir)], capture_output=True, timeout=60, check=False
        )
        if done.returncode == 0 and (bin_dir / "podnet").exists():
            how = f"podnet-install-shim {flag}"
            break
    if not how:
        _link(bin_dir / "podnet", Path(program_path("podnet")))
        how = "link to the venv's podnet"
    return how


def _link(link: Path, target: Path) -> None:
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(target)
