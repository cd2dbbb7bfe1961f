"""The agent's admin service flags on the real podnet-agent, in a namespace of its own:
what cannot serve it is one line and exit status 2 before anything starts; a certificate
that cannot serve it by default leaves the agent running without it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from podnet.tls.identity import Role

from tests.conftest import NetnsFactory
from tools.lab.pki import LabPki
from tools.lab.processes import spawn, stop

AGENT = str(Path(sys.executable).parent / "podnet-agent")


@pytest.fixture
def node_pki(tmp_path: Path) -> LabPki:
    authority = LabPki(tmp_path / "pki")
    authority.files(Role.NODE, "node-a")  # a client-only certificate, as issued before
    authority.files(Role.NODE, "node-b", ips=["127.0.0.1"])
    return authority


def agent_argv(tmp_path: Path, node: str, *flags: str) -> list[str]:
    return [
        AGENT,
        "--node-name", node,
        "--node-ip", "127.0.0.1",
        "--ipamd", "127.0.0.1:9",
        "--socket", str(tmp_path / "agent.sock"),
        "--spool-dir", str(tmp_path / "spool"),
        "--cni-conf-dir", str(tmp_path / "net.d"),
        "--http-listen", "127.0.0.1:9610",
        *flags,
    ]  # fmt: skip


def tls_flags(authority: LabPki, name: str) -> list[str]:
    files = authority.files(Role.NODE, name)
    return ["--tls-ca", str(files.ca), "--tls-cert", str(files.cert), "--tls-key", str(files.key)]


@pytest.mark.parametrize(
    ("certificate", "flags", "says"),
    [
        (None, ["--admin-listen", "127.0.0.1:9611"], "the admin service is mutual TLS only"),
        ("partial", ["--admin-listen", "127.0.0.1:9611"], "give --tls-cert, --tls-key"),
        ("node-a", ["--admin-listen", "127.0.0.1:9611"], "it lacks the serverAuth usage"),
        ("node-b", [], "is spiffe://podnet.local/node/node-b, but this is node 'node-a'"),
        ("node-a", ["--admin-listen", "nowhere"], "--admin-listen: expected HOST:PORT"),
    ],
)
def test_an_admin_service_that_cannot_serve_is_one_line_and_exit_2(
    netns: NetnsFactory,
    tmp_path: Path,
    node_pki: LabPki,
    certificate: str | None,
    flags: list[str],
    says: str,
) -> None:
    node = "node-a"
    if certificate is None:
        tls: list[str] = []
    elif certificate == "partial":
        tls = tls_flags(node_pki, "node-a")[:2]
    else:
        tls = tls_flags(node_pki, certificate)
    done = subprocess.run(
        ["ip", "netns", "exec", netns("agent"), *agent_argv(tmp_path, node, *tls, *flags)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    *logged, last = done.stderr.strip().splitlines()
    assert last.startswith("podnet-agent: error: ") and says in last
    assert all(line.startswith("{") for line in logged), logged  # schema lines, no traceback
    assert not (tmp_path / "agent.sock").exists(), "nothing started"


def test_by_default_a_client_only_certificate_runs_the_agent_without_the_admin_service(
    netns: NetnsFactory, tmp_path: Path, node_pki: LabPki
) -> None:
    log = tmp_path / "agent.log"
    process = spawn(agent_argv(tmp_path, "node-a", *tls_flags(node_pki, "node-a")), log, netns("a"))
    try:
        deadline = time.monotonic() + 20
        while "admin_service_off" not in log.read_text() and time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            time.sleep(0.1)
        time.sleep(0.5)
        assert process.poll() is None, log.read_text()
    finally:
        stop(process)
    [event] = [
        json.loads(line) for line in log.read_text().splitlines() if "admin_service_off" in line
    ]
    assert "cannot serve the admin service: it lacks the serverAuth usage" in event["reason"]
