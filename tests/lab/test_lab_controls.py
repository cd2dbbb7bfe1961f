"""The node/ipamd controls' pure parts: node numbering, recorded options, the command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tools.lab.cli import build_parser
from tools.lab.daemons import DaemonOptions
from tools.lab.layout import LabSettings, plan_node, plan_nodes, role_index
from tools.lab.state import LabRecord, read_lab, write_lab


def test_a_joining_node_continues_the_numbering(tmp_path: Path) -> None:
    settings = LabSettings("pl-", tmp_path)
    planned = plan_nodes(settings, 3)
    assert [role_index(plan.role) for plan in planned] == [0, 1, 2]
    joining = plan_node(settings, 1 + max(role_index(plan.role) for plan in planned))
    assert (joining.role, joining.netns, joining.ip, joining.bridge_port) == (
        "worker3",
        "pl-worker3",
        "172.18.0.5",
        "veth-n3",
    )
    assert role_index("worker12") == 12
    for bad in ("worker1", "worker0", "node", "worker02"):
        with pytest.raises(ValueError):
            role_index(bad)


def test_lab_json_keeps_the_daemon_options_and_reads_older_files(tmp_path: Path) -> None:
    options = DaemonOptions(node_lease_ttl=3, quarantine=6, log_level="debug", mtu=1400)
    lab = LabRecord(
        prefix="pl-",
        state_dir=str(tmp_path),
        status="ready",
        cluster_cidr="10.244.0.0/16",
        bridge_netns="pl-net",
        docker_subnet="172.18.0.0/16",
        gateway="172.18.0.1",
        cni_bin_dir=str(tmp_path / "bin"),
        nodes=[],
        daemon_options=options,
    )
    path = tmp_path / "lab.json"
    write_lab(path, lab)
    assert json.loads(path.read_text())["daemon_options"]["node_lease_ttl"] == 3
    assert read_lab(path) == lab

    older = json.loads(path.read_text())
    del older["daemon_options"]
    path.write_text(json.dumps(older))
    reread = read_lab(path)
    assert reread is not None and reread.daemon_options == DaemonOptions()


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["node", "stop", "worker2"], {"node_command": "stop", "name": "worker2", "kill": False}),
        (["node", "stop", "worker", "--kill"], {"kill": True}),
        (["node", "start", "worker", "--timeout", "5"], {"node_command": "start", "timeout": 5}),
        (["node", "add"], {"node_command": "add", "timeout": 60}),
        (["node", "remove", "pl-worker3"], {"node_command": "remove", "name": "pl-worker3"}),
        (["ipamd", "stop"], {"ipamd_command": "stop", "kill": False}),
        (["ipamd", "start"], {"ipamd_command": "start", "timeout": 30}),
        (["ipamd", "restart", "--kill"], {"ipamd_command": "restart", "kill": True}),
        (["node", "cut", "worker2"], {"node_command": "cut", "name": "worker2"}),
        (["node", "heal", "pl-worker2"], {"node_command": "heal", "name": "pl-worker2"}),
        (["etcd", "kill", "leader"], {"etcd_command": "kill", "member": "leader"}),
        (["etcd", "start", "etcd-2"], {"etcd_command": "start", "timeout": 30}),
        (["etcd", "status", "--json"], {"etcd_command": "status", "json": True}),
        (["up", "--etcd-members", "3"], {"etcd_members": 3}),
    ],
)
def test_control_commands_parse(argv: list[str], expected: dict[str, object]) -> None:
    parsed = vars(build_parser().parse_args(argv))
    assert {key: parsed[key] for key in expected} == expected


@pytest.mark.parametrize(
    "argv", [["node", "stop"], ["node", "remove"], ["ipamd"], ["node"], ["node", "cut"], ["etcd"]]
)
def test_control_commands_refuse_missing_arguments(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(argv)
    assert exited.value.code == 2


EVERY_COMMAND = [
    ["up"],
    ["pods", "add"],
    ["pods", "del", "--all"],
    ["show"],
    ["ping"],
    ["logs", "worker"],
    ["node", "stop", "worker"],
    ["node", "start", "worker"],
    ["node", "add"],
    ["node", "remove", "worker"],
    ["ipamd", "stop"],
    ["ipamd", "start"],
    ["ipamd", "restart"],
    ["node", "cut", "worker"],
    ["node", "heal", "worker"],
    *(["etcd", action, "etcd-1"] for action in ("stop", "kill", "start", "freeze", "thaw")),
    ["etcd", "cut", "etcd-1"],
    ["etcd", "heal", "etcd-1"],
    ["etcd", "status"],
    ["down"],
]


def test_every_command_has_its_own_handler() -> None:
    """No command falls through to another's (as everything unmatched once fell to down)."""
    parser = build_parser()
    handlers = [parser.parse_args(argv).func for argv in EVERY_COMMAND]
    assert len(set(handlers)) == len(EVERY_COMMAND)
