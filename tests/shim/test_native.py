"""The compiled shim: really built (dynamic and static), in agreement with the Python
shim on what a runtime observes, byte-identical spool files, sanitizer-clean."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from podnet.shim.spool import attachment_of_spool_file, load_spooled

from cni_shim.install import SANITIZE_FLAGS, install_native_shim, install_shim
from cni_shim.native.huffman_header import HEADER_PATH, render_header
from tests.shim.conftest import (
    StandInAgent,
    attachment_env,
    cni_env,
    network_config,
    run_shim,
    run_shim_async,
)
from tests.shim.scripted_http2 import (
    ScriptedPeer,
    answer_after_stalling,
    endless_header_block,
    huge_header_list,
    overflows_the_send_window,
    reset_stream,
    sends_settings,
)


def test_native_shim_is_a_compiled_elf(native_shim: Path, tmp_path: Path) -> None:
    assert native_shim.read_bytes()[:4] == b"\x7fELF"
    installed = install_shim(tmp_path)
    assert (installed.kind, installed.fallback_reason) == ("native", "")
    assert installed.path.read_bytes()[:4] == b"\x7fELF"


def program_header_types(elf: bytes) -> set[int]:
    """p_type of every program header of a 64-bit little-endian ELF file."""
    assert elf[:6] == b"\x7fELF\x02\x01"
    offset = int.from_bytes(elf[0x20:0x28], "little")
    entry_size = int.from_bytes(elf[0x36:0x38], "little")
    count = int.from_bytes(elf[0x38:0x3A], "little")
    return {
        int.from_bytes(elf[start : start + 4], "little")
        for start in range(offset, offset + count * entry_size, entry_size)
    }


PT_DYNAMIC = 2
PT_INTERP = 3


def test_static_shim_is_statically_linked(static_shim: Path, native_shim: Path) -> None:
    assert PT_INTERP in program_header_types(native_shim.read_bytes())  # the check is real
    headers = program_header_types(static_shim.read_bytes())
    assert PT_INTERP not in headers and PT_DYNAMIC not in headers
    ldd = subprocess.run(["ldd", str(static_shim)], capture_output=True, timeout=30, check=False)
    assert b"not a dynamic executable" in ldd.stdout + ldd.stderr


def test_installer_falls_back_without_a_compiler(tmp_path: Path) -> None:
    empty_path = tmp_path / "no-compilers"
    empty_path.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "cni_shim.install", "--dest", str(tmp_path / "bin")],
        env={**os.environ, "PATH": str(empty_path)},
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    warning = json.loads(done.stderr)
    assert warning["level"] == "warning"
    assert "no C compiler" in warning["reason"]
    launcher = tmp_path / "bin" / "podnet"
    assert launcher.read_bytes().startswith(b"#!")
    assert run_shim(launcher, cni_env("VERSION"), b"{}").returncode == 0


def test_static_install_fails_rather_than_fall_back(tmp_path: Path) -> None:
    empty_path = tmp_path / "no-compilers"
    empty_path.mkdir()
    done = subprocess.run(
        [sys.executable, "-m", "cni_shim.install", "--static", "--dest", str(tmp_path / "bin")],
        env={**os.environ, "PATH": str(empty_path)},
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    (line,) = done.stderr.decode().splitlines()
    assert json.loads(line)["msg"] == "static C shim not built"
    assert "no C compiler" in json.loads(line)["reason"]
    assert not (tmp_path / "bin" / "podnet").exists()


def test_huffman_header_matches_the_python_table() -> None:
    assert HEADER_PATH.read_text() == render_header()


LOCAL_ANSWERS = [
    ("ADD", b"{not json", 6),
    ("ADD", b"", 6),
    ("ADD", b"[]", 6),
    ("DEL", b'{"a":1,}', 6),
    ("CHECK", b'{"a":"x}', 6),
    ("ADD", b'{"a":1} x', 6),
    ("ADD", b'{"a":[}', 6),
    ("ADD", b'{"nested":{"x":"}]{["}, "k": tru}', 6),
    ("ADD", b'{"s":"bad \\q escape"}', 6),
    ("ADD", b'{"s":"\\u12zz"}', 6),
    ("ADD", b'{"s":"\\u+123"}', 6),
    ("ADD", b'{"n":--1}', 6),
    ("ADD", '{"é✓":1 ,}'.encode(), 6),
    ("ADD", b'{"k":"\xff"}', 6),
    ("ADD", b'{"k":"\xe2\x82"}', 6),
    ("ADD", b'{"k":"\xe2\x82x"}', 6),
    ("ADD", b'{"agentSocket":"/run/a\\u0000b.sock"}', 7),
    ("DEL", b'{"spoolDir":"/var/lib/x\\u0000"}', 7),
    ("ADD", b'{"agentSocket":"/run/\\ud800.sock"}', 7),
    ("STATUS", b'{"cniVersion":"1.0.0"}', 50),
    ("", b'{"cniVersion":"0.4.0"}', 4),
    ("FROB", b'{"cniVersion":"0.3.1"}', 4),
]


@pytest.mark.parametrize(("command", "stdin", "code"), LOCAL_ANSWERS)
def test_local_answers_agree(
    native_shim: Path, python_shim: Path, short_dir: Path, command: str, stdin: bytes, code: int
) -> None:
    """What a runtime sees of the shim's own answers is the same: exit code, JSON shape,
    code, cniVersion and msg. Details are the shims' own words (positions, for one,
    count bytes in C and characters in Python)."""
    if stdin.startswith(b'{"cniVersion"'):
        # A well-formed config pointing at a socket nobody serves.
        stdin = network_config(
            cniVersion=json.loads(stdin)["cniVersion"], agentSocket=str(short_dir / "none.sock")
        )
    env = attachment_env(command)
    answers = [run_shim(shim, env, stdin) for shim in (native_shim, python_shim)]
    replies = [json.loads(done.stdout) for done in answers]
    for done, reply in zip(answers, replies, strict=True):
        assert done.returncode == 1
        assert done.stdout.endswith(b"}\n") and done.stdout.count(b"\n") == 1
        assert list(reply) == ["cniVersion", "code", "msg", "details"]
        assert reply["code"] == code
    assert replies[0]["msg"] == replies[1]["msg"]
    assert replies[0]["cniVersion"] == replies[1]["cniVersion"]
    if code in (6, 7):
        assert replies[0]["details"] and replies[1]["details"]
        assert answers[0].stderr == answers[1].stderr == b""
    else:  # unreachable (logged) or a bad command (not logged): the same lines
        assert [json.loads(line)["msg"] for line in answers[0].stderr.splitlines()] == [
            json.loads(line)["msg"] for line in answers[1].stderr.splitlines()
        ]


@pytest.mark.parametrize(
    ("env", "name"),
    [
        (attachment_env("DEL"), "6330666665653031-65746830.del"),
        (attachment_env("DEL", containerid="ü\udcff", ifname="net1"), "c3bc3f-6e657431.del"),
    ],
    ids=["plain", "non-utf8"],
)
def test_spool_files_identical(
    native_shim: Path,
    static_shim: Path,
    python_shim: Path,
    short_dir: Path,
    env: dict[str, str],
    name: str,
) -> None:
    spool = short_dir / "spool"
    config = network_config(agentSocket=str(short_dir / "none.sock"), spoolDir=str(spool))
    files = {}
    shims = (("native", native_shim), ("static", static_shim), ("python", python_shim))
    for kind, shim in shims:
        done = run_shim(shim, env, config)
        assert (done.returncode, done.stdout) == (0, b"")
        assert json.loads(done.stderr)["spool"] == str(spool / name)
        assert (spool / name).stat().st_mode & 0o777 == 0o600
        assert spool.stat().st_mode & 0o777 == 0o700
        files[kind] = (spool / name).read_bytes()
        (spool / name).unlink()
    assert files["native"] == files["static"] == files["python"]
    assert not list(spool.iterdir())  # no temp files left behind
    container_id, ifname = attachment_of_spool_file(name)
    assert (container_id, ifname) == (
        env["CNI_CONTAINERID"].encode("utf-8", "replace").decode(),
        env["CNI_IFNAME"],
    )


@pytest.fixture(scope="module")
def sanitized_shim(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The C shim built with AddressSanitizer (leak checks included) and UBSan."""
    return install_native_shim(tmp_path_factory.mktemp("cni-bin-asan"), extra_flags=SANITIZE_FLAGS)


SANITIZER_ENV = {
    "ASAN_OPTIONS": "detect_leaks=1:exitcode=99",
    "UBSAN_OPTIONS": "halt_on_error=1:exitcode=98:print_stacktrace=1",
}


async def test_sanitized_build_runs_clean(
    sanitized_shim: Path, agent: StandInAgent, short_dir: Path
) -> None:
    binary = await asyncio.to_thread(sanitized_shim.read_bytes)
    assert b"__asan_init" in binary  # the sanitizers are really in

    def env(command: str) -> dict[str, str]:
        return {**attachment_env(command), **SANITIZER_ENV}

    big = network_config(agentSocket=str(agent.socket_path), blob="é✓" * 30_000)
    agent.servicer.stdout = b'{"cniVersion":"1.1.0","ips":[]}' + b" " * 100_000
    code, stdout, stderr = await run_shim_async(sanitized_shim, env("ADD"), big)
    assert (code, stderr) == (0, b"")
    assert stdout == agent.servicer.stdout

    agent.servicer.abort_with = grpc.StatusCode.INTERNAL
    code, stdout, stderr = await run_shim_async(sanitized_shim, env("CHECK"), big)
    assert (code, json.loads(stdout)["code"]) == (1, 11), stderr

    unreachable = network_config(
        agentSocket=str(short_dir / "none.sock"), spoolDir=str(short_dir / "spool")
    )
    runs = [
        (env("VERSION"), b"{}", 0),
        (env("DEL"), unreachable, 0),
        (env("ADD"), b'{"s":"\\ud83d\\ude00\\u00e9", "n":[{"x":"]"}], "k": 1e3,}', 1),
        (env("FROB"), b"{}", 1),
    ]
    for run_env, stdin, expected in runs:
        done = await asyncio.to_thread(run_shim, sanitized_shim, run_env, stdin)
        assert done.returncode == expected, done.stderr
        assert b"Sanitizer" not in done.stderr and b"runtime error" not in done.stderr
    assert len(load_spooled(short_dir / "spool")) == 1


SCRIPTED_PEERS: list[tuple[Callable[[ScriptedPeer], None], int]] = [
    (lambda peer: answer_after_stalling(peer, b'{"cniVersion":"1.1.0"}', 0), 0),
    (endless_header_block, 1),
    (huge_header_list, 1),
    (sends_settings(0x5, 0), 1),
    (overflows_the_send_window, 1),
    (reset_stream, 1),
]


@pytest.mark.parametrize(
    ("script", "exit_code"),
    SCRIPTED_PEERS,
    ids=["stall-continuation-padding", "endless-header-block", "header-list-bomb",
         "bad-settings", "window-overflow", "rst-stream"],
)  # fmt: skip
def test_sanitized_build_against_scripted_peers(
    sanitized_shim: Path,
    short_dir: Path,
    script: Callable[[ScriptedPeer], None],
    exit_code: int,
) -> None:
    """The socket side (transport.c) is not fuzzed: run it through the hostile peers."""
    socket_path = short_dir / "agent.sock"
    config = network_config(agentSocket=str(socket_path), pad="p" * 100_000)
    with ScriptedPeer(socket_path, script):
        done = run_shim(sanitized_shim, {**attachment_env("ADD"), **SANITIZER_ENV}, config)
    assert done.returncode == exit_code, done.stderr
    assert b"Sanitizer" not in done.stderr and b"runtime error" not in done.stderr
