"""Executing one plugin binary the way libcni does, and timing it."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tools.cniexec.errors import PluginError, PluginNotFoundError, PluginTimeoutError
from tools.cniexec.namespace import call_in_netns
from tools.cniexec.results import PluginRun

CNI_ENV_KEYS = (
    "CNI_COMMAND",
    "CNI_CONTAINERID",
    "CNI_NETNS",
    "CNI_IFNAME",
    "CNI_ARGS",
    "CNI_PATH",
)


@dataclass(frozen=True)
class PluginEnv:
    """The six CNI_* variables; libcni exports all of them, empty where unused."""

    command: str
    container_id: str = ""
    netns: str = ""
    ifname: str = ""
    args: str = ""
    path: str = ""

    def as_environ(self, base: Mapping[str, str]) -> dict[str, str]:
        environ = {key: value for key, value in base.items() if not key.startswith("CNI_")}
        values = (self.command, self.container_id, self.netns, self.ifname, self.args, self.path)
        environ.update(zip(CNI_ENV_KEYS, values, strict=True))
        return environ


@dataclass(frozen=True)
class PluginOutput:
    document: dict[str, Any] | None
    run: PluginRun


def find_plugin(plugin_type: str, bin_dirs: tuple[str, ...]) -> Path:
    if "/" in plugin_type or not plugin_type:
        raise PluginNotFoundError(plugin_type, bin_dirs)
    for directory in bin_dirs:
        candidate = Path(directory) / plugin_type
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate
    raise PluginNotFoundError(plugin_type, bin_dirs)


def _decode(stdout: bytes) -> dict[str, Any] | None:
    text = stdout.strip()
    if not text:
        return None
    try:
        document = json.loads(text)
    except ValueError:
        return None
    return document if isinstance(document, dict) else None


def exec_plugin(
    executable: Path,
    plugin_type: str,
    env: PluginEnv,
    stdin: bytes,
    timeout: float,
    exec_netns: str | None = None,
) -> PluginOutput:
    """Runs the plugin (started from inside exec_netns when given).

    Returns the parsed stdout document (None when empty). Raises PluginError
    with the plugin's CNI error on a non-zero exit or undecodable output.
    """
    environ = env.as_environ(os.environ)

    def run() -> tuple[subprocess.CompletedProcess[bytes] | None, float]:
        started = time.perf_counter()
        try:
            done = subprocess.run(
                [str(executable)],
                input=stdin,
                capture_output=True,
                env=environ,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            return None, time.perf_counter() - started
        return done, time.perf_counter() - started

    done, elapsed = call_in_netns(exec_netns, run)
    if done is None:
        run_record = PluginRun(plugin_type, env.command, -1, elapsed)
        raise PluginTimeoutError(
            plugin_type, env.command, None, f"no answer within {timeout}s", runs=(run_record,)
        )
    run_record = PluginRun(plugin_type, env.command, done.returncode, elapsed)
    document = _decode(done.stdout)
    stderr = done.stderr.decode(errors="replace").strip()
    if done.returncode != 0:
        if document is not None and "code" in document:
            raw_code = document.get("code")
            raise PluginError(
                plugin_type,
                env.command,
                raw_code if isinstance(raw_code, int) else None,
                str(document.get("msg", "")),
                str(document.get("details", "")),
                stderr,
                (run_record,),
            )
        shown = done.stdout.decode(errors="replace").strip() or stderr
        raise PluginError(
            plugin_type,
            env.command,
            None,
            f"exit status {done.returncode}: {shown[:500]}",
            stderr=stderr,
            runs=(run_record,),
        )
    if document is None and done.stdout.strip():
        raise PluginError(
            plugin_type,
            env.command,
            None,
            f"undecodable output: {done.stdout[:200]!r}",
            stderr=stderr,
            runs=(run_record,),
        )
    return PluginOutput(document, run_record)
