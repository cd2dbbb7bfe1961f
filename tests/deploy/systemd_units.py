"""deploy/systemd read the way systemd reads it: unit settings, EnvironmentFile, ExecStart
expansion, and system call filters expanded into system call names."""

from __future__ import annotations

import re
import shlex
import subprocess
from functools import cache
from pathlib import Path

SYSTEMD = Path(__file__).resolve().parents[2] / "deploy" / "systemd"
ENV_FILES = {"podnet-agent.service": "agent.env", "podnet-ipamd.service": "ipamd.env"}


def unit_settings(unit: str) -> dict[str, list[str]]:
    """Every Key=value of a unit, values in order (continuation lines joined)."""
    text = (SYSTEMD / unit).read_text().replace("\\\n", " ")
    settings: dict[str, list[str]] = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";", "[")):
            continue
        key, _, value = line.partition("=")
        settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def unit_capabilities(unit: str) -> set[str]:
    (bounding,) = unit_settings(unit)["CapabilityBoundingSet"]
    return {cap.removeprefix("CAP_") for cap in bounding.split()}


def env_file(name: str) -> dict[str, str]:
    values = {}
    for line in (SYSTEMD / name).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value
    return values


_WHOLE = re.compile(r"\$\{(\w+)\}")
_SPLIT = re.compile(r"^\$(\w+)$")


def exec_argv(unit: str, key: str = "ExecStart") -> list[str]:
    """ExecStart as systemd runs it with the example EnvironmentFile: ${VAR} stays one
    word, a word that is $VAR splits into words (none if empty); %d is the
    credentials directory."""
    env = env_file(ENV_FILES[unit])
    (command,) = unit_settings(unit)[key]
    argv: list[str] = []
    for word in shlex.split(command):
        split = _SPLIT.match(word)
        if split:
            argv.extend(env[split.group(1)].split())
            continue
        word = _WHOLE.sub(lambda match: env[match.group(1)], word)
        argv.append(word.replace("%d", f"/run/credentials/{unit}"))
    return argv


@cache
def syscall_group(name: str) -> frozenset[str]:
    done = subprocess.run(
        ["systemd-analyze", "syscall-filter", name], capture_output=True, text=True, check=True
    )
    calls: set[str] = set()
    for line in done.stdout.splitlines():
        if not line.startswith("    ") or line.strip().startswith("#"):
            continue
        entry = line.strip()
        calls |= syscall_group(entry) if entry.startswith("@") else {entry}
    return frozenset(calls)


def allowed_syscalls(unit: str) -> frozenset[str]:
    """SystemCallFilter lines: the first (an allow list) and `~` lines taking away."""
    allowed: set[str] = set()
    for value in unit_settings(unit)["SystemCallFilter"]:
        deny = value.startswith("~")
        names: set[str] = set()
        for entry in value.removeprefix("~").split():
            names |= syscall_group(entry) if entry.startswith("@") else {entry}
        allowed = allowed - names if deny else allowed | names
    return frozenset(allowed)
