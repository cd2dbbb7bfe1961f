"""The README's debugging commands work as written, against a lab made by `podnet-lab up`
alone (the README's first command): only the lab's prefix and state directory differ,
since tests never use the default ones."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from tests.lab.cluster_probes import lab_json, pods_of
from tests.lab.conftest import LabRunner

ROOT = Path(__file__).parents[2]
DEFAULT_STATE_DIR = "/run/podnet-lab/pl-"


def debugging_commands() -> list[str]:
    """The shell commands of the README's Debugging section's first code block, with
    backslash continuations joined."""
    readme = (ROOT / "README.md").read_text()
    section = readme.split("\n## Debugging\n", 1)[1].split("\n## ", 1)[0]
    block = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert block is not None, "no sh block in the README's Debugging section"
    joined = block.group(1).replace("\\\n", " ")
    return [line.strip() for line in joined.splitlines() if line.strip()]


def for_lab(command: str, lab: LabRunner) -> str:
    """The command for this lab: its prefix for `pl-`, then its state directory."""
    with_prefix = command.replace("pl-", lab.prefix)
    return with_prefix.replace(DEFAULT_STATE_DIR.replace("pl-", lab.prefix), str(lab.state_dir))


def test_the_readme_shows_grpcurl_with_certificate_flags() -> None:
    commands = [c for c in debugging_commands() if "grpcurl" in c]
    ipamd_calls = [c for c in commands if "9090" in c]
    assert len(ipamd_calls) == 2
    for command in ipamd_calls:
        assert "-plaintext" not in command
        for flag in ("-cacert", "-cert", "-key"):
            assert f" {flag} " in command
    assert '"node":"pl-worker"' in ipamd_calls[1]


def test_every_readme_debugging_command_works_on_a_lab(lab: LabRunner) -> None:
    lab.ok("up", "--nodes", "2", timeout=180)
    lab.ok("pods", "add", "--count", "1")
    (pod,) = pods_of(lab)
    outputs = []
    for command in debugging_commands():
        done = subprocess.run(
            ["bash", "-c", for_lab(command, lab)],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert done.returncode == 0, f"{command}\n{done.stderr}"
        outputs.append(done.stdout)
    ipamd_services, allocations, agent_services = outputs
    assert "podnet.v1.Ipam" in ipamd_services.split()
    listed = json.loads(allocations)["allocations"]
    worker = next(n for n in lab_json(lab)["nodes"] if n["role"] == "worker")
    assert [(a["node"], a["address"]) for a in listed] == [(worker["name"], pod["ip"])]
    assert "podnet.v1.CniAgent" in agent_services.split()
