"""What cniexec hands each plugin: env, stdin, order, prevResult, runtimeConfig, cache.

The plugins here are recorders (they write down what they were given); the
thing under test is the runtime, which runs them as real processes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import NetnsFactory
from tools.cniexec import (
    CniRuntime,
    PluginError,
    RuntimeConf,
    RuntimeSettings,
    parse_conflist,
)
from tools.cniexec.conflist import plugin_stdin

RECORDER = """#!/usr/bin/python3
import json, os, sys
config = json.load(sys.stdin)
env = {k: v for k, v in os.environ.items() if k.startswith("CNI_")}
if env.get("CNI_COMMAND") == "VERSION":
    with open(os.environ["RECORD_VERSION_TO"], "a") as log:
        log.write(json.dumps({"env": env, "stdin": config}) + "\\n")
    print(json.dumps({"cniVersion": "1.0.0", "supportedVersions": ["0.4.0", "1.0.0"]}))
    sys.exit(0)
with open(config["recordTo"], "a") as log:
    netns = os.readlink("/proc/self/ns/net")
    log.write(json.dumps({"env": env, "stdin": config, "netns": netns}) + "\\n")
if config.get("failWith"):
    error = {"code": config["failWith"], "msg": "told to fail", "details": "d"}
    print(json.dumps({"cniVersion": "1.0.0", **error}))
    sys.exit(1)
if env["CNI_COMMAND"] == "ADD":
    result = dict(config.get("prevResult") or {"cniVersion": "1.0.0", "ips": []})
    result["chain"] = list(result.get("chain", [])) + [config["type"]]
    print(json.dumps(result))
"""


def write_recorders(bin_dir: Path) -> None:
    bin_dir.mkdir()
    for name in ("rec-a", "rec-b"):
        path = bin_dir / name
        path.write_text(RECORDER)
        path.chmod(0o755)


def recorded(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture
def setup(tmp_path: Path, netns: NetnsFactory) -> tuple[CniRuntime, Path, str]:
    write_recorders(tmp_path / "bin")
    node = netns("node")
    runtime = CniRuntime(
        RuntimeSettings(
            bin_dirs=(str(tmp_path / "empty"), str(tmp_path / "bin")),
            cache_dir=tmp_path / "cache",
            exec_netns=node,
            plugin_timeout=10.0,
        )
    )
    return runtime, tmp_path / "calls.jsonl", node


def conflist_for(record: Path, fail_with: int = 0) -> bytes:
    return json.dumps(
        {
            "cniVersion": "1.0.0",
            "name": "recnet",
            "plugins": [
                {"type": "rec-a", "recordTo": str(record), "capabilities": {"portMappings": True}},
                {
                    "type": "rec-b",
                    "recordTo": str(record),
                    "capabilities": {"mac": False},
                    "failWith": fail_with,
                },
            ],
        }
    ).encode()


CONF = RuntimeConf(
    container_id="c0ffee",
    netns="/run/netns/whatever",
    ifname="eth1",
    args=(("IgnoreUnknown", "1"), ("K8S_POD_NAME", "p")),
    capability_args={"portMappings": [{"hostPort": 1, "containerPort": 2}], "mac": "aa"},
)


def test_add_del_check_hand_plugins_what_libcni_does(
    setup: tuple[CniRuntime, Path, str], tmp_path: Path
) -> None:
    runtime, record, node = setup
    conflist = parse_conflist(conflist_for(record))

    added = runtime.add(conflist, CONF)
    runtime.check(conflist, CONF)
    runtime.delete(conflist, CONF)

    assert added.result is not None and added.result["chain"] == ["rec-a", "rec-b"]
    calls = recorded(record)
    order = [(c["env"]["CNI_COMMAND"], c["stdin"]["type"]) for c in calls]
    assert order == [
        ("ADD", "rec-a"),
        ("ADD", "rec-b"),
        ("CHECK", "rec-a"),
        ("CHECK", "rec-b"),
        ("DEL", "rec-b"),
        ("DEL", "rec-a"),
    ]
    first = calls[0]
    assert first["env"] == {
        "CNI_COMMAND": "ADD",
        "CNI_CONTAINERID": "c0ffee",
        "CNI_NETNS": "/run/netns/whatever",
        "CNI_IFNAME": "eth1",
        "CNI_ARGS": "IgnoreUnknown=1;K8S_POD_NAME=p",
        "CNI_PATH": f"{tmp_path / 'empty'}:{tmp_path / 'bin'}",
    }
    assert first["stdin"]["name"] == "recnet"
    assert first["stdin"]["cniVersion"] == "1.0.0"
    assert "prevResult" not in first["stdin"]
    assert first["stdin"]["runtimeConfig"] == {"portMappings": CONF.capability_args["portMappings"]}
    assert calls[1]["stdin"]["prevResult"]["chain"] == ["rec-a"]
    assert "runtimeConfig" not in calls[1]["stdin"]
    for later in calls[2:]:
        assert later["stdin"]["prevResult"] == added.result
    node_inode = Path(f"/run/netns/{node}").stat().st_ino
    assert {call["netns"] for call in calls} == {f"net:[{node_inode}]"}
    assert runtime.cached_attachment(conflist, "c0ffee", "eth1") is None


def test_del_without_cache_sends_no_prev_result_and_reuses_nothing(
    setup: tuple[CniRuntime, Path, str],
) -> None:
    runtime, record, _ = setup
    conflist = parse_conflist(conflist_for(record))
    bare = RuntimeConf(container_id="gone", netns="", ifname="eth0")

    runtime.delete(conflist, bare)

    calls = recorded(record)
    assert [c["stdin"]["type"] for c in calls] == ["rec-b", "rec-a"]
    assert all("prevResult" not in c["stdin"] for c in calls)
    assert calls[0]["env"]["CNI_NETNS"] == ""
    assert calls[0]["env"]["CNI_ARGS"] == ""


def test_failure_names_plugin_and_keeps_the_cni_error(
    setup: tuple[CniRuntime, Path, str],
) -> None:
    runtime, record, _ = setup
    conflist = parse_conflist(conflist_for(record, fail_with=11))

    with pytest.raises(PluginError) as failure:
        runtime.add(conflist, CONF)

    assert (failure.value.plugin_type, failure.value.code) == ("rec-b", 11)
    assert (failure.value.msg, failure.value.details) == ("told to fail", "d")
    assert [run.plugin_type for run in failure.value.runs] == ["rec-a", "rec-b"]
    assert failure.value.runs[-1].exit_code == 1
    assert runtime.cached_attachment(conflist, CONF.container_id, CONF.ifname) is None


def test_version_probe_uses_libcni_dummy_env(
    setup: tuple[CniRuntime, Path, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime, _, _ = setup
    probe_log = tmp_path / "version.jsonl"
    monkeypatch.setenv("RECORD_VERSION_TO", str(probe_log))

    info = runtime.version("rec-a")

    assert info.supported_versions == ("0.4.0", "1.0.0")
    (probe,) = recorded(probe_log)
    assert probe["env"] == {
        "CNI_COMMAND": "VERSION",
        "CNI_CONTAINERID": "",
        "CNI_NETNS": "dummy",
        "CNI_IFNAME": "dummy",
        "CNI_ARGS": "",
        "CNI_PATH": "dummy",
    }
    assert probe["stdin"] == {"cniVersion": "1.1.0"}


def test_runtime_config_only_for_declared_true_capabilities() -> None:
    conflist = parse_conflist(
        b'{"cniVersion":"0.4.0","name":"n","plugins":[{"type":"x","capabilities":'
        b'{"portMappings":true,"bandwidth":false}}]}'
    )
    stdin = json.loads(
        plugin_stdin(conflist, conflist.plugins[0], None, {"portMappings": [1], "bandwidth": {}})
    )
    assert stdin["runtimeConfig"] == {"portMappings": [1]}
    assert stdin["capabilities"] == {"portMappings": True, "bandwidth": False}
