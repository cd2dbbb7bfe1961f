"""What operators touch: --help, configuration errors, grpcurl against the agent."""

from __future__ import annotations

import base64
import json
import subprocess

import pytest

from netagent.config import build_parser
from tests.e2e.single_node import VENV_BIN, SingleNode


def run_agent(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(VENV_BIN / "podnet-agent"), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )


def test_agent_help_documents_every_flag() -> None:
    done = run_agent("--help")
    assert done.returncode == 0
    flags = [a.option_strings[-1] for a in build_parser()._actions if a.option_strings]
    assert len(flags) > 10
    for flag in flags:
        assert flag in done.stdout


REQUIRED = ["--node-name", "n1", "--node-ip", "10.0.0.1", "--ipamd", "127.0.0.1:9600"]


@pytest.mark.parametrize(
    ("args", "mentions"),
    [
        (["--node-name", "n1", "--node-ip", "not-an-ip", "--ipamd", "127.0.0.1:1"], "--node-ip"),
        (["--node-name", "n1", "--node-ip", "10.0.0.1", "--ipamd", "nohostport"], "--ipamd"),
        ([*REQUIRED, "--mtu", "20"], "--mtu"),
        ([*REQUIRED, "--http-listen", "127.0.0.1:99999"], "--http-listen"),
        ([*REQUIRED, "--cni-conf-file", "../x.conflist"], "--cni-conf-file"),
        (["--node-ip", "10.0.0.1", "--ipamd", "127.0.0.1:1"], "--node-name"),
        ([*REQUIRED, "--cni-allowed-uid", "-1"], "--cni-allowed-uid"),
        ([*REQUIRED, "--socket", "/run/" + "x" * 90 + "/agent.sock"], "--socket"),
    ],
)
def test_agent_configuration_error_is_one_readable_line(args: list[str], mentions: str) -> None:
    done = run_agent(*args)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert mentions in lines[-1]
    assert lines[-1].startswith(("podnet-agent:", "podnet-agent: error:"))
    assert done.stdout == ""


def test_grpcurl_lists_and_calls_the_agent_over_its_socket(node: SingleNode) -> None:
    def grpcurl(*args: str) -> str:
        *flags, method = args
        done = subprocess.run(
            [str(VENV_BIN / "grpcurl"), "-plaintext", "-unix", *flags, str(node.socket), method],
            capture_output=True,
            text=True,
            check=True,
            timeout=20,
        )
        return done.stdout

    assert {"podnet.v1.CniAgent", "grpc.health.v1.Health"} <= set(grpcurl("list").split())
    health = grpcurl("-d", '{"service":"podnet.v1.CniAgent"}', "grpc.health.v1.Health/Check")
    assert '"SERVING"' in health
    config = base64.b64encode(json.dumps(node.plugin_config("1.1.0")).encode()).decode()
    status = json.loads(
        grpcurl(
            "-d", json.dumps({"command": "STATUS", "config": config}), "podnet.v1.CniAgent/Invoke"
        )
    )
    assert status.get("exit_code", 0) == 0 and not status.get("stdout")
    bad = json.loads(grpcurl("-d", '{"command":"ADD"}', "podnet.v1.CniAgent/Invoke"))
    assert bad["exit_code"] == 1
    assert json.loads(base64.b64decode(bad["stdout"]))["code"] in (4, 6, 7)
