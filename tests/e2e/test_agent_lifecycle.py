"""A start-up step of the agent that fails undoes the steps before it: the CNI socket is
removed, nothing is left listening, the executable says why in one line and exits 1."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

from tests.conftest import NetnsFactory
from tests.e2e.single_node import HTTP_PORT, VENV_BIN, SingleNode
from tests.log_schema import schema_errors
from tools.lab.ports import free_port
from tools.lab.processes import spawn, tcp_open, wait_until


def agent_argv(
    state: Path, http_port: int, ipamd_port: int, socket: Path | None = None
) -> list[str]:
    return [
        str(VENV_BIN / "podnet-agent"),
        "--node-name", "node-b",
        "--node-ip", "127.0.0.1",
        "--ipamd", f"127.0.0.1:{ipamd_port}",
        "--insecure-plaintext",  # these start steps fail, or wait, before ipamd answers
        "--socket", str(socket or state / "agent" / "agent.sock"),
        "--spool-dir", str(state / "spool"),
        "--cni-conf-dir", str(state / "net.d"),
        "--http-listen", f"127.0.0.1:{http_port}",
        "--remove-conf-on-exit",
        "--log-level", "debug",
    ]  # fmt: skip


def run_to_exit(argv: list[str], netns: str, log: Path) -> tuple[int, list[str]]:
    process = spawn(argv, log, netns=netns)
    try:
        code = process.wait(30)
    finally:
        process.kill()
        process.wait()
    return code, log.read_text().splitlines()


def assert_one_error_line(lines: list[str], expected: str) -> None:
    *logged, last = lines
    assert last.startswith("podnet-agent: error: ") and expected in last, lines
    for line in logged:
        assert schema_errors(line) == [], line
    text = "\n".join(lines)
    for leak in ("Traceback", "Task was destroyed", "Unclosed", "Exception ignored"):
        assert leak not in text, text


def test_http_port_taken_removes_the_cni_socket_it_had_created(
    node: SingleNode, tmp_path: Path
) -> None:
    """A second agent on the node: its CNI socket starts, then its HTTP port is taken."""
    state = tmp_path / "second"
    code, lines = run_to_exit(
        agent_argv(state, HTTP_PORT, 9600), node.netns, tmp_path / "second.log"
    )
    assert code == 1
    assert_one_error_line(
        lines, f"cannot serve HTTP on 127.0.0.1:{HTTP_PORT}: Address already in use"
    )
    assert (state / "agent").is_dir() and list((state / "agent").iterdir()) == []
    assert not (state / "net.d" / "10-podnet.conflist").exists()
    assert node.agent_ready()  # the first agent is untouched


def test_socket_path_that_cannot_be_created_fails_before_http_starts(
    netns: NetnsFactory, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    http_port = free_port()
    node_ns = netns("node")
    argv = agent_argv(tmp_path, http_port, free_port(), socket=blocker / "agent.sock")
    code, lines = run_to_exit(argv, node_ns, tmp_path / "agent.log")
    assert code == 1
    assert_one_error_line(lines, f"cannot serve CNI on {blocker / 'agent.sock'}: ")
    assert not tcp_open("127.0.0.1", http_port, node_ns)


def test_sigterm_while_ipamd_is_unreachable_undoes_every_step(
    netns: NetnsFactory, tmp_path: Path
) -> None:
    node_ns = netns("node")
    http_port = free_port()
    socket = tmp_path / "agent" / "agent.sock"
    log = tmp_path / "agent.log"
    process = spawn(agent_argv(tmp_path, http_port, free_port()), log, netns=node_ns)
    try:
        wait_until(
            lambda: socket.exists() and tcp_open("127.0.0.1", http_port, node_ns),
            20,
            "agent listening while it retries ipamd",
            process,
            log,
        )
        wait_until(lambda: "range_acquire_failed" in log.read_text(), 20, "a failed acquire")
        process.send_signal(signal.SIGTERM)
        assert process.wait(10) == 0
    finally:
        process.kill()
        process.wait()
    lines = log.read_text().splitlines()
    assert all(schema_errors(line) == [] for line in lines), lines
    assert '"stopping"' in lines[-1]
    assert not socket.exists()
    assert not tcp_open("127.0.0.1", http_port, node_ns)
    assert subprocess.run(["ip", "netns", "pids", node_ns], capture_output=True).stdout == b""
