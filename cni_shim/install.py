"""podnet-install-shim: writes the `podnet` CNI executable into a CNI bin dir.

The executable is a tiny launcher run with `-I -S` (isolated, no site): no
site-packages scan, no .pth processing. It puts the directory holding the
cni_shim package on sys.path and calls cni_shim.main.main().
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import cni_shim

DEFAULT_BIN_DIR = Path("/opt/cni/bin")
EXECUTABLE_NAME = "podnet"

# The kernel passes everything after the interpreter path as ONE argument, so
# the flags must be a single word: -IS, not "-I -S".
LAUNCHER = """#!{python} -IS
# podnet CNI plugin (written by podnet-install-shim; do not edit)
import sys
sys.path.insert(0, {package_root!r})
from cni_shim.main import main
main()
"""


def package_root() -> Path:
    """The directory that contains the cni_shim package."""
    return Path(cni_shim.__file__).resolve().parent.parent


def launcher_text(python: str, root: Path) -> str:
    return LAUNCHER.format(python=python, package_root=str(root))


def install_shim(
    bin_dir: Path = DEFAULT_BIN_DIR, python: str = sys.executable, name: str = EXECUTABLE_NAME
) -> Path:
    """Atomically writes the launcher as bin_dir/name (mode 0755); returns its path."""
    if any(char.isspace() for char in python):
        raise ValueError(f"interpreter path {python!r} cannot go on a shebang line")
    bin_dir.mkdir(parents=True, exist_ok=True)
    target = bin_dir / name
    fd, temp_name = tempfile.mkstemp(dir=bin_dir, prefix=f".{name}.")
    try:
        with os.fdopen(fd, "w") as temp:
            temp.write(launcher_text(python, package_root()))
            temp.flush()
            os.fsync(temp.fileno())
        os.chmod(temp_name, 0o755)
        os.replace(temp_name, target)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Install the podnet CNI executable.")
    parser.add_argument("--bin-dir", "--dest", dest="bin_dir", type=Path, default=DEFAULT_BIN_DIR)
    parser.add_argument("--python", default=sys.executable, help="interpreter for the shebang")
    args = parser.parse_args(argv)
    path = install_shim(args.bin_dir, args.python)
    print(path)


if __name__ == "__main__":
    main()
