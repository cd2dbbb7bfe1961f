"""Every podnet command answers bad input with one readable line on stderr and a non-zero
exit status, never a usage block or a traceback. All of these fail before anything runs:
no lab, daemon or etcd is needed, and nothing is changed."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

VENV_BIN = Path(sys.executable).parent
AGENT = ["--node-name", "n1", "--node-ip", "10.0.0.1", "--ipamd", "127.0.0.1:9600"]
PLAINTEXT = ["--etcd-insecure-plaintext"]
TMP = "{tmp}"  # replaced by the test's own temporary directory

# (command, arguments, exit status, what stderr must mention)
BAD_INPUT: list[tuple[str, list[str], int, str]] = [
    ("podnet-lab", [], 2, "required: COMMAND"),
    ("podnet-lab", ["bogus"], 2, "invalid choice: 'bogus'"),
    ("podnet-lab", ["up", "--nodes", "0"], 2, "1 to 200 nodes, not 0"),
    ("podnet-lab", ["up", "--nodes", "300"], 2, "1 to 200 nodes, not 300"),
    ("podnet-lab", ["up", "--nodes", "three"], 2, "argument --nodes: invalid int value"),
    ("podnet-lab", ["up", "--mtu", "20"], 2, "--mtu: must be between 68 and 65535"),
    ("podnet-lab", ["up", "--node-lease-ttl", "0"], 2, "--node-lease-ttl"),
    ("podnet-lab", ["up", "--quarantine", "-1"], 2, "--quarantine"),
    ("podnet-lab", ["up", "--timeout", "0"], 2, "--timeout"),
    ("podnet-lab", ["--prefix", "Bad_Prefix", "down"], 2, "argument --prefix"),
    ("podnet-lab", ["pods", "add", "--name", "no spaces"], 2, "argument --name"),
    ("podnet-lab", ["pods", "add", "--count", "x"], 2, "argument --count"),
    ("podnet-lab", ["node", "stop"], 2, "required: NAME"),
    ("podnet-lab", ["ipamd", "reboot"], 2, "invalid choice: 'reboot'"),
    ("podnet-lab", ["up", "--etcd-members", "2"], 2, "--etcd-members: 1, 3 or 5"),
    ("podnet-lab", ["etcd", "kill"], 2, "required: MEMBER"),
    ("podnet-lab", ["--state-dir", TMP, "node", "cut", "worker"], 1, "no running lab"),
    ("podnet-lab", ["--state-dir", TMP, "etcd", "status"], 1, "no running lab"),
    ("podnet-lab", ["--state-dir", TMP, "show"], 1, "no lab with prefix"),
    ("podnet-churn", [], 2, "one of the arguments --lab --node-netns is required"),
    ("podnet-churn", ["--lab", TMP, "--count", "0"], 2, "argument --count: must be at least 1"),
    ("podnet-churn", ["--lab", TMP, "-c", "many"], 2, "expected a whole number"),
    ("podnet-churn", ["--lab", TMP, "--duration", "-5"], 2, "argument --duration"),
    ("podnet-churn", ["--lab", TMP, "--settle", "soon"], 2, "argument --settle"),
    ("podnet-churn", ["--lab", TMP, "--first-host-port", "70000"], 2, "from 1 to 65535"),
    ("podnet-churn", ["--node-netns", "x", "--nodes", "2"], 2, "--nodes needs --lab"),
    ("podnet-churn", ["--node-netns", "x"], 2, "--node-netns needs --conflist"),
    ("podnet-churn", ["--lab", TMP, "--count", "1"], 1, "no ready lab"),
    ("podnet-agent", [], 2, "required: --node-name, --node-ip, --ipamd"),
    ("podnet-agent", [*AGENT, "--node-ip", "10.0.0.300"], 2, "--node-ip: not an IPv4"),
    ("podnet-agent", [*AGENT, "--node-name", "a/b"], 2, "--node-name"),
    ("podnet-agent", [*AGENT, "--ipamd", "nohostport"], 2, "--ipamd: expected HOST:PORT"),
    ("podnet-agent", [*AGENT, "--ipamd", "h:99999"], 2, "--ipamd: port 99999"),
    ("podnet-agent", [*AGENT, "--http-listen", "127.0.0.1:0"], 2, "--http-listen: port 0"),
    ("podnet-agent", [*AGENT, "--mtu", "20"], 2, "--mtu: must be between 68 and 65535"),
    ("podnet-agent", [*AGENT, "--mtu", "big"], 2, "argument --mtu: invalid int value"),
    ("podnet-agent", [*AGENT, "--cni-conf-file", "../x.conflist"], 2, "--cni-conf-file"),
    ("podnet-agent", [*AGENT, "--ipamd-timeout", "0"], 2, "--ipamd-timeout"),
    ("podnet-agent", [*AGENT, "--ipamd-timeout", "nan"], 2, "--ipamd-timeout"),
    ("podnet-agent", [*AGENT, "--log-level", "loud"], 2, "invalid choice: 'loud'"),
    ("podnet-agent", AGENT, 2, "needs mutual TLS: give --tls-cert, --tls-key, --tls-ca"),
    ("podnet-agent", [*AGENT, "--tls-cert", "c", "--insecure-plaintext"], 2, "exclude each other"),
    ("podnet-ipamd", ["--bogus"], 2, "unrecognized arguments: --bogus"),
    (
        "podnet-ipamd",
        ["--etcd-insecure-plaintext", "--listen", "nohost"],
        2,
        "--listen: 'nohost' is not HOST:PORT",
    ),
    (
        "podnet-ipamd",
        ["--etcd-insecure-plaintext", "--etcd", ""],
        2,
        "--etcd: at least one etcd endpoint",
    ),
    (
        "podnet-ipamd",
        ["--etcd-insecure-plaintext", "--etcd", "h:0"],
        2,
        "--etcd: h:0 is not HOST:PORT",
    ),
    ("podnet-ipamd", ["--etcd-insecure-plaintext", "--etcd-prefix", "podnet"], 2, "--etcd-prefix"),
    (
        "podnet-ipamd",
        ["--etcd-insecure-plaintext", "--cluster-cidr", "10.244.0.1/16"],
        2,
        "--cluster-cidr",
    ),
    (
        "podnet-ipamd",
        ["--etcd-insecure-plaintext", "--node-prefix-length", "12"],
        2,
        "--node-prefix-length: /12",
    ),
    ("podnet-ipamd", ["--etcd-insecure-plaintext", "--node-lease-ttl", "0"], 2, "--node-lease-ttl"),
    ("podnet-ipamd", ["--etcd-insecure-plaintext", "--quarantine", "-1"], 2, "--quarantine"),
    ("podnet-ipamd", ["--etcd-insecure-plaintext", "--etcd-timeout", "0"], 2, "--etcd-timeout"),
    ("podnet-ipamd", [*PLAINTEXT, "--compaction-interval", "-1"], 2, "--compaction-interval"),
    ("podnet-ipamd", [*PLAINTEXT, "--compaction-retention", "nan"], 2, "--compaction-retention"),
    ("podnet-ipamd", ["--log-level", "LOUD"], 2, "invalid choice: 'LOUD'"),
    ("podnetctl", ["certs", "issue", "--dir", TMP, "--role", "node", "--name", "w"], 1, "no CA in"),
    (
        "podnetctl",
        ["certs", "issue", "--dir", TMP, "--role", "wizard", "--name", "w"],
        2,
        "unknown role 'wizard'",
    ),
    ("podnetctl", [], 2, "required: COMMAND"),
    ("podnetctl", ["nodes"], 1, "no ipamd address"),
    ("podnetctl", ["ips", "--ipamd", "nohost"], 1, "--ipamd: 'nohost' is not HOST:PORT"),
    ("podnetctl", ["ipam", "release", "--ip", "10.0.0.300"], 2, "is not an IP address"),
    ("podnetctl", ["ipam", "check", "--ipamd", "h:1"], 1, "agents answer only over mutual TLS"),
    ("podnetctl", ["status", "--config", f"{TMP}/none.json"], 1, "none.json does not exist"),
    ("podnet-agent", [*AGENT, "--admin-listen", "127.0.0.1:1"], 2, "mutual TLS only"),
    ("podnet-agent", [*AGENT, "--tls-ca", "ca.crt"], 2, "give --tls-cert, --tls-key"),
    ("podnet-ipamd", ["--etcd-insecure-plaintext"], 2, "serves mutual TLS only: give --tls-cert"),
    ("podnet-ipamd", [*PLAINTEXT, "--max-calls-per-identity", "0"], 2, "--max-calls-per-identity"),
    ("podnet-ipamd", [*PLAINTEXT, "--call-timeout", "-1"], 2, "--call-timeout: must be positive"),
    ("podnet-install-shim", ["--bogus"], 2, "unrecognized arguments: --bogus"),
    (
        "podnet-install-shim",
        ["--python", "--interpreter", "/usr/bin/python3 -X", "--bin-dir", TMP],
        2,
        "cannot go on a shebang line",
    ),
    ("podnet-install-shim", ["--bin-dir", "/proc/version/bin"], 1, "cannot install into"),
]


@pytest.mark.parametrize(
    ("command", "args", "status", "mentions"),
    BAD_INPUT,
    ids=[f"{row[0]} {' '.join(row[1])}" for row in BAD_INPUT],
)
def test_bad_input_is_one_line_and_a_non_zero_exit(
    command: str, args: list[str], status: int, mentions: str, tmp_path: Path
) -> None:
    done = subprocess.run(
        [str(VENV_BIN / command), *(str(tmp_path) if arg == TMP else arg for arg in args)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert "Traceback" not in done.stderr
    assert done.returncode == status, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith((f"{command}: ", f"{command} "))
    assert mentions in lines[0]
    assert done.stdout == ""
    assert list(tmp_path.iterdir()) == []


def test_every_command_but_the_cni_plugin_is_swept() -> None:
    """`podnet` itself answers bad input the CNI way (error JSON, tests/shim)."""
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    commands = set(pyproject["project"]["scripts"]) - {"podnet"}
    assert {row[0] for row in BAD_INPUT} == commands
