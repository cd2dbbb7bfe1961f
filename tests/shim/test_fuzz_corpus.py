"""The fuzz corpora (seeds and every crash found) replayed through the C shim's parsers.

scripts/fuzz.sh fuzzes with libFuzzer (clang); here each target is built with the
plain C compiler, AddressSanitizer and UBSan, and a small driver (fuzz/replay_main.c)
that feeds it every committed input, so a fixed crash stays fixed.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from cni_shim.install import COMPILE_FLAGS, NATIVE_DIR, SANITIZE_FLAGS, find_compiler
from tests.shim.test_native import SANITIZER_ENV

FUZZ_DIR = NATIVE_DIR / "fuzz"
TARGETS = ("config", "hpack", "protobuf", "http2")


def test_every_target_has_a_corpus() -> None:
    targets = {path.stem.removeprefix("fuzz_") for path in FUZZ_DIR.glob("fuzz_*.c")}
    assert targets == set(TARGETS)
    assert {path.name for path in (FUZZ_DIR / "corpus").iterdir()} == set(TARGETS)


def compile_c(arguments: list[str], cwd: Path) -> None:
    compiler = find_compiler()
    assert compiler is not None
    done = subprocess.run(
        [compiler, *COMPILE_FLAGS, *SANITIZE_FLAGS, *arguments],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr


@pytest.fixture(scope="module")
def shim_objects(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """The shim's translation units but main.c, compiled once with the sanitizers."""
    directory = tmp_path_factory.mktemp("fuzz-objects")
    sources = [path for path in sorted(NATIVE_DIR.glob("*.c")) if path.name != "main.c"]
    compile_c(["-c", *map(str, sources)], cwd=directory)
    return [str(directory / f"{source.stem}.o") for source in sources]


@pytest.mark.parametrize("target", TARGETS)
def test_corpus_replays_clean(target: str, tmp_path: Path, shim_objects: list[str]) -> None:
    binary = tmp_path / f"replay_{target}"
    harness = [str(FUZZ_DIR / f"fuzz_{target}.c"), str(FUZZ_DIR / "replay_main.c")]
    compile_c(["-o", str(binary), *harness, *shim_objects], cwd=tmp_path)
    corpus = FUZZ_DIR / "corpus" / target
    inputs = [path for path in corpus.iterdir() if not path.name.startswith(".")]
    assert inputs
    done = subprocess.run(
        [str(binary), str(corpus)],
        env=SANITIZER_ENV,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout == f"replayed {len(inputs)} inputs\n"
    assert "Sanitizer" not in done.stderr and "runtime error" not in done.stderr
