"""podnet-install-shim: writes the `podnet` CNI executable into a CNI bin dir.

By default the executable is the compiled shim: cni_shim/native/podnet_shim.c
built with the C compiler on PATH (it needs only libc). It behaves exactly as
the Python shim but skips an interpreter start per CNI call, which is most of
a CNI call's cost. Without a C compiler (or with `--python`) the executable is
a tiny Python launcher run with `-I -S` (isolated, no site): it puts the
directory holding the cni_shim package on sys.path and calls
cni_shim.main.main(). Either way the file is replaced atomically.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import podnet.shim
from podnet.cli import OneLineArgumentParser, exit_with_error

import cni_shim

DEFAULT_BIN_DIR = Path("/opt/cni/bin")
EXECUTABLE_NAME = "podnet"
NATIVE_SOURCE = Path(__file__).resolve().parent / "native" / "podnet_shim.c"
COMPILERS = ("cc", "gcc", "clang")
COMPILE_FLAGS = ("-O2", "-Wall", "-Wextra", "-Werror", "-std=c11")
# For tests and debugging: AddressSanitizer and UBSan, failing hard on any report.
SANITIZE_FLAGS = ("-fsanitize=address,undefined", "-fno-sanitize-recover=all", "-g", "-O1")
COMPILE_TIMEOUT_SECONDS = 120.0

# The kernel passes everything after the interpreter path as ONE argument, so
# the flags must be a single word: -IS, not "-I -S".
LAUNCHER = """#!{python} -IS
# podnet CNI plugin (written by podnet-install-shim; do not edit)
import sys
sys.path[:0] = {package_roots!r}
from cni_shim.main import main
main()
"""


class ShimBuildError(Exception):
    """The native shim could not be built (no compiler, no source, compiler failed)."""


@dataclass(frozen=True)
class InstalledShim:
    path: Path
    kind: str  # "native" or "python"
    fallback_reason: str = ""  # why a native install became the Python launcher


def package_roots() -> list[str]:
    """The directories holding the cni_shim package and the podnet contract package
    (one directory when installed, two in a source checkout)."""
    roots = [Path(cni_shim.__file__).resolve().parent.parent]
    roots.append(Path(podnet.shim.__file__).resolve().parent.parent.parent)
    return list(dict.fromkeys(str(root) for root in roots))


def launcher_text(python: str, roots: list[str]) -> str:
    return LAUNCHER.format(python=python, package_roots=roots)


def find_compiler() -> str | None:
    for name in COMPILERS:
        found = shutil.which(name)
        if found:
            return found
    return None


def compile_native_shim(
    output: Path, compiler: str | None = None, extra_flags: Sequence[str] = ()
) -> None:
    """Compiles the C shim into output (not atomically; see install_native_shim)."""
    compiler = compiler or find_compiler()
    if compiler is None:
        raise ShimBuildError(f"no C compiler ({', '.join(COMPILERS)}) on PATH")
    if not NATIVE_SOURCE.is_file():
        raise ShimBuildError(f"C source {NATIVE_SOURCE} is missing")
    command = [compiler, *COMPILE_FLAGS, *extra_flags, "-o", str(output), str(NATIVE_SOURCE)]
    try:
        done = subprocess.run(
            command, capture_output=True, text=True, timeout=COMPILE_TIMEOUT_SECONDS, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ShimBuildError(f"{compiler}: {error}") from error
    if done.returncode != 0:
        raise ShimBuildError(f"{' '.join(command)} failed: {done.stderr.strip()}")


def install_native_shim(
    bin_dir: Path = DEFAULT_BIN_DIR,
    name: str = EXECUTABLE_NAME,
    compiler: str | None = None,
    extra_flags: Sequence[str] = (),
) -> Path:
    """Compiles the C shim and atomically installs it as bin_dir/name (0755)."""

    def build(temp_path: Path) -> None:
        compile_native_shim(temp_path, compiler, extra_flags)

    return _install_atomically(bin_dir, name, build)


def install_python_launcher(
    bin_dir: Path = DEFAULT_BIN_DIR, python: str = sys.executable, name: str = EXECUTABLE_NAME
) -> Path:
    """Atomically writes the Python launcher as bin_dir/name (0755)."""
    if any(char.isspace() for char in python):
        raise ValueError(f"interpreter path {python!r} cannot go on a shebang line")

    def write(temp_path: Path) -> None:
        temp_path.write_text(launcher_text(python, package_roots()))

    return _install_atomically(bin_dir, name, write)


def install_prebuilt_shim(
    source: Path, bin_dir: Path = DEFAULT_BIN_DIR, name: str = EXECUTABLE_NAME
) -> Path:
    """Atomically copies an already-built shim (a container image's static one) to
    bin_dir/name (0755). Refuses anything that is not an ELF executable, so a wrong
    path never replaces a working shim."""
    try:
        with source.open("rb") as handle:
            magic = handle.read(4)
    except OSError as error:
        raise ShimBuildError(f"cannot read {source}: {error.strerror or error}") from None
    if magic != b"\x7fELF":
        raise ShimBuildError(f"{source} is not an ELF executable")

    def copy(temp_path: Path) -> None:
        shutil.copyfile(source, temp_path)

    return _install_atomically(bin_dir, name, copy)


def install_shim(
    bin_dir: Path = DEFAULT_BIN_DIR,
    python: str = sys.executable,
    name: str = EXECUTABLE_NAME,
    native: bool = True,
) -> InstalledShim:
    """The native shim when it can be built (and native is True), else the Python launcher."""
    reason = "Python launcher requested"
    if native:
        try:
            return InstalledShim(install_native_shim(bin_dir, name), "native")
        except ShimBuildError as error:
            reason = str(error)
    path = install_python_launcher(bin_dir, python, name)
    return InstalledShim(path, "python", reason if native else "")


def _install_atomically(bin_dir: Path, name: str, produce: Callable[[Path], None]) -> Path:
    bin_dir.mkdir(parents=True, exist_ok=True)
    target = bin_dir / name
    fd, temp_name = tempfile.mkstemp(dir=bin_dir, prefix=f".{name}.")
    os.close(fd)
    temp_path = Path(temp_name)
    try:
        produce(temp_path)
        fd = os.open(temp_path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.chmod(temp_path, 0o755)
        os.replace(temp_path, target)
    except BaseException:
        temp_path.unlink(missing_ok=True)
        raise
    return target


def _log(level: str, msg: str, **fields: str) -> None:
    import json

    sys.stderr.write(
        json.dumps({"level": level, "logger": "podnet-install-shim", "msg": msg, **fields}) + "\n"
    )


def main(argv: list[str] | None = None) -> None:
    parser = OneLineArgumentParser(
        prog="podnet-install-shim", description="Install the podnet CNI executable."
    )
    parser.add_argument("--bin-dir", "--dest", dest="bin_dir", type=Path, default=DEFAULT_BIN_DIR)
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument(
        "--python",
        action="store_true",
        help="install the Python launcher instead of compiling the C shim",
    )
    choice.add_argument(
        "--prebuilt",
        type=Path,
        metavar="PATH",
        help="copy this already-built shim (e.g. the image's static one) instead of compiling",
    )
    parser.add_argument(
        "--interpreter", default=sys.executable, help="interpreter for the Python launcher"
    )
    args = parser.parse_args(argv)
    if args.prebuilt is not None:
        try:
            print(install_prebuilt_shim(args.prebuilt, args.bin_dir))
        except (ShimBuildError, OSError) as error:
            exit_with_error(parser.prog, error, status=1)
        return
    try:
        installed = install_shim(args.bin_dir, args.interpreter, native=not args.python)
    except ValueError as error:
        exit_with_error(parser.prog, error)
    except OSError as error:
        exit_with_error(parser.prog, f"cannot install into {args.bin_dir}: {error}", status=1)
    if installed.fallback_reason:
        _log(
            "warning",
            "C shim not built; installed the Python launcher instead",
            reason=installed.fallback_reason,
            path=str(installed.path),
        )
    print(installed.path)


if __name__ == "__main__":
    main()
