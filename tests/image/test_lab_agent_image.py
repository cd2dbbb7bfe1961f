"""`podnet-lab up --agent-image`: every node's agent runs from podnet's image with podman,
with the privileges and host paths the DaemonSet gives it, and networks the node's pods."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from tests.image.conftest import copy_out_shim, podman
from tests.lab.conftest import LabRunner
from tools.lab.agent_container import PREFIX_LABEL
from tools.lab.icmp import ping_once
from tools.lab.netns import list_netns

pytestmark = pytest.mark.slow


def _containers(prefix: str) -> dict[str, dict[str, Any]]:
    """This lab's containers by name, running or not."""
    done = podman("ps", "--all", "--filter", f"label={PREFIX_LABEL}={prefix}", "--format", "json")
    assert done.returncode == 0, done.stderr
    return {entry["Names"][0]: entry for entry in json.loads(done.stdout or "[]")}


def _container_pid(name: str) -> int:
    done = podman("inspect", "--format", "{{.State.Pid}}", name)
    assert done.returncode == 0, done.stderr
    return int(done.stdout)


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def _wait_gone(prefix: str, name: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while name in _containers(prefix):
        assert time.monotonic() < deadline, f"{name} still exists after {timeout}s"
        time.sleep(0.2)


def test_a_lab_of_agents_from_the_image_passes_the_ping_matrix(
    podnet_image: str, lab: LabRunner, tmp_path: Path
) -> None:
    lab.ok("up", "--nodes", "3", "--agent-image", podnet_image, "--timeout", "120", timeout=240)
    lab_json = json.loads((lab.state_dir / "lab.json").read_text())
    assert lab_json["status"] == "ready"
    assert lab_json["daemon_options"]["agent_image"] == podnet_image
    containers = _containers(lab.prefix)
    assert sorted(containers) == sorted(f"{lab.prefix}{n['role']}-agent" for n in lab_json["nodes"])
    for node in lab_json["nodes"]:
        name = f"{lab.prefix}{node['role']}-agent"
        assert containers[name]["State"] == "running"
        # The recorded agent is the container's process, the image's podnet-agent.
        assert node["agent"]["pid"] == _container_pid(name)
        assert "/opt/podnet/bin/podnet-agent" in _cmdline(node["agent"]["pid"])
        assert Path(node["conflist"]).is_file()

    # The shim the runtime calls is the image's static one, put there by the init step.
    image_shim = copy_out_shim(podnet_image, tmp_path).read_bytes()
    assert (lab.state_dir / "bin" / "podnet").read_bytes() == image_shim

    lab.ok("pods", "add", "--count", "4", "--name", "web")
    pods = json.loads(lab.ok("show", "--json"))["pods"]
    assert sorted({pod["node"] for pod in pods}) == ["worker", "worker2"]
    assert "12/12 pairs reachable" in lab.ok("ping")  # across nodes: 8 of the 12 pairs
    control_plane = lab_json["nodes"][0]
    for pod in pods:
        assert ping_once(control_plane["netns"], pod["ip"]) is not None

    # A crash ends the container; pods keep their network; a start brings a new one.
    worker_container = f"{lab.prefix}worker-agent"
    lab.ok("node", "stop", "worker", "--kill")
    _wait_gone(lab.prefix, worker_container)
    assert "12/12 pairs reachable" in lab.ok("ping")
    lab.ok("node", "start", "worker", "--timeout", "60", timeout=120)
    assert _containers(lab.prefix)[worker_container]["State"] == "running"
    restarted = json.loads((lab.state_dir / "lab.json").read_text())["nodes"][1]["agent"]
    assert restarted["pid"] == _container_pid(worker_container)

    lab.ok("pods", "del", "--all")
    lab.ok("down")
    assert _containers(lab.prefix) == {}
    assert list_netns(lab.prefix) == []
    assert not lab.state_dir.exists()


def test_a_missing_image_is_refused_before_anything_is_made(lab: LabRunner) -> None:
    done = lab.run("up", "--nodes", "2", "--agent-image", "localhost/podnet:absent")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1
    assert "no image localhost/podnet:absent" in done.stderr
    assert "scripts/build-image.sh" in done.stderr
    assert list_netns(lab.prefix) == []
    assert not lab.state_dir.exists()
