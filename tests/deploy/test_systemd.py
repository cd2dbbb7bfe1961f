"""deploy/systemd: the units pass `systemd-analyze verify` against a root holding the
installed executables, their sandbox scores stay low, their command lines (with the
example EnvironmentFiles) parse with the daemons' own parsers, and every system call
and address family the real daemons use on a pod's ADD and DEL is one the units allow."""

from __future__ import annotations

import contextlib
import io
import re
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from cni_shim.install import build_parser as install_shim_parser
from ipamd.main import config_from_args as ipamd_config
from netagent.config import parse_config as agent_config
from tests.conftest import NetnsFactory
from tests.deploy.systemd_units import (
    ENV_FILES,
    SYSTEMD,
    allowed_syscalls,
    env_file,
    exec_argv,
    unit_settings,
)
from tests.e2e.single_node import VENV_BIN, SingleNode

UNITS = ("podnet-agent.service", "podnet-ipamd.service")
INSTALL_DIR = Path("/opt/podnet/bin")
# systemd-analyze security's exposure (0 safe .. 10 unsafe): the agent needs root with
# three capabilities and the host network; ipamd needs nothing.
EXPOSURE_LIMITS = {"podnet-agent.service": 3.5, "podnet-ipamd.service": 2.0}
DOCS = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"


@pytest.fixture
def install_root(tmp_path: Path) -> Path:
    """A root laid out as docs/deploy.md installs podnet: the real entry points in
    /opt/podnet/bin, the units in /etc/systemd/system, systemd's own units."""
    root = tmp_path / "root"
    shutil.copytree("/usr/lib/systemd/system", root / "usr/lib/systemd/system", symlinks=True)
    units = root / "etc/systemd/system"
    units.mkdir(parents=True)
    for unit in UNITS:
        shutil.copy(SYSTEMD / unit, units / unit)
    bin_dir = root / INSTALL_DIR.relative_to("/")
    bin_dir.mkdir(parents=True)
    for program in ("podnet-agent", "podnet-ipamd", "podnet-install-shim"):
        shutil.copy(VENV_BIN / program, bin_dir / program)
    return root


def _verify(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["systemd-analyze", "verify", f"--root={root}", *UNITS],
        capture_output=True,
        text=True,
        check=False,
    )


def test_units_verify_cleanly(install_root: Path) -> None:
    done = _verify(install_root)
    assert (done.returncode, done.stderr, done.stdout) == (0, "", "")


def test_verify_catches_a_missing_executable_and_an_unknown_key(install_root: Path) -> None:
    (install_root / "opt/podnet/bin/podnet-ipamd").unlink()
    assert "podnet-ipamd is not executable" in _verify(install_root).stderr
    unit = install_root / "etc/systemd/system/podnet-agent.service"
    unit.write_text(unit.read_text().replace("PrivateTmp=yes", "PrivateTemp=yes"))
    assert "Unknown key 'PrivateTemp'" in _verify(install_root).stderr


@pytest.mark.parametrize("unit", UNITS)
def test_sandbox_exposure_is_low(install_root: Path, unit: str) -> None:
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=yes", f"--root={install_root}", unit],
        capture_output=True,
        text=True,
        check=False,
    )
    found = re.search(r"Overall exposure level for \S+: ([0-9.]+)", done.stdout)
    assert found, done.stdout + done.stderr
    assert float(found.group(1)) <= EXPOSURE_LIMITS[unit]


def _parse_install_shim(args: list[str]) -> object:
    return install_shim_parser().parse_args(args)


@pytest.mark.parametrize(
    ("unit", "key", "parse"),
    [
        ("podnet-agent.service", "ExecStart", agent_config),
        ("podnet-agent.service", "ExecStartPre", _parse_install_shim),
        ("podnet-ipamd.service", "ExecStart", ipamd_config),
    ],
)
def test_command_lines_parse(unit: str, key: str, parse: Callable[[list[str]], object]) -> None:
    argv = exec_argv(unit, key)
    assert Path(argv[0]).parent == INSTALL_DIR
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            parse(argv[1:])
    except SystemExit as error:
        pytest.fail(f"{unit} {key}: refused (exit {error.code}): {stderr.getvalue().strip()}")


@pytest.mark.parametrize("unit", UNITS)
def test_environment_keys_are_defined_and_documented(unit: str) -> None:
    env = env_file(ENV_FILES[unit])
    (environment_file,) = unit_settings(unit)["EnvironmentFile"]
    assert environment_file == f"/etc/podnet/{ENV_FILES[unit]}"
    values = " ".join(v for vs in unit_settings(unit).values() for v in vs)
    used = set(re.findall(r"\$\{?(\w+)\}?", values))
    assert used <= env.keys(), used - env.keys()
    assert env.keys() <= used, env.keys() - used
    documented = DOCS.read_text()
    for key in env:
        assert f"`{key}`" in documented, f"{key} is not in docs/deploy.md"


# System calls: the daemons run under strace through an ADD and a DEL.

_SYSCALL = re.compile(r"^\d+\s+(?:<\.\.\. )?([a-z0-9_]+)[( ]")
_FAMILY = re.compile(r"\bsocket\((AF_[A-Z0-9]+)")


def _strace(output: Path) -> list[str]:
    return ["strace", "-f", "-qq", "-e", "signal=none", "-o", str(output)]


@pytest.fixture
def traced_node(netns: NetnsFactory, tmp_path: Path, cni_bin: Path) -> Iterator[SingleNode]:
    single = SingleNode(netns=netns("node"), state=tmp_path / "node", cni_bin=cni_bin)
    single.state.mkdir()
    single.agent_wrapper = _strace(tmp_path / "agent.strace")
    single.ipamd_wrapper = _strace(tmp_path / "ipamd.strace")
    try:
        single.start_etcd()
        single.start_ipamd()
        single.start_agent()
        yield single
    finally:
        single.stop_all()
        if sys.exc_info()[0] is not None:
            print((single.state / "agent.log").read_text(errors="replace")[-4000:])


def _trace(path: Path) -> tuple[set[str], set[str]]:
    text = path.read_text(errors="replace")
    calls = {m.group(1) for line in text.splitlines() if (m := _SYSCALL.match(line))}
    calls.discard("exited")
    return calls, set(_FAMILY.findall(text))


def test_daemons_use_only_allowed_syscalls_and_address_families(
    traced_node: SingleNode, netns: NetnsFactory, tmp_path: Path
) -> None:
    pod = netns("pod")
    assert traced_node.cni("ADD", "ctr-1", f"/run/netns/{pod}").returncode == 0
    assert traced_node.http_get("/metrics")[0] == 200
    assert traced_node.cni("DEL", "ctr-1", f"/run/netns/{pod}").returncode == 0
    traced_node.stop_agent()
    traced_node.stop_ipamd()
    for unit, trace in (
        ("podnet-agent.service", tmp_path / "agent.strace"),
        ("podnet-ipamd.service", tmp_path / "ipamd.strace"),
    ):
        calls, families = _trace(trace)
        assert {"execve", "socket"} <= calls  # the trace is real
        if unit == "podnet-agent.service":
            assert "setns" in calls
        refused = calls - allowed_syscalls(unit)
        assert not refused, f"{unit} would refuse {sorted(refused)}"
        (restricted,) = unit_settings(unit)["RestrictAddressFamilies"]
        assert families <= set(restricted.split()), f"{unit}: {families}"
