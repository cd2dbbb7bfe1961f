"""Runs a real libcni client, podman 4.3 with its CNI backend, inside a node namespace.

podman runs under `nsenter --net` in the root mount namespace, so the netns it
bind-mounts under /run/netns is visible to the agent, as on a real node. The
OCI runtime is runc: crun refuses these VMs' hybrid cgroup layout, and hiding
the cgroup2 mount would need a private mount namespace, which would hide the
pod's netns from the agent too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

CONTAINERS_CONF = """\
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]
[network]
network_backend = "cni"
cni_plugin_dirs = ["{cni_bin}"]
network_config_dir = "{conf_dir}"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
"""


@dataclass(frozen=True)
class Podman:
    """work must be a short path: podman refuses a runroot longer than 50 characters."""

    netns: str
    work: Path
    conf_dir: Path
    cni_bin: Path

    def prepare(self) -> None:
        rootfs = self.work / "rootfs"
        (rootfs / "bin").mkdir(parents=True, exist_ok=True)
        shutil.copy("/bin/busybox", rootfs / "bin" / "busybox")
        for applet in ("sh", "ping", "ip", "sleep", "cat"):
            (rootfs / "bin" / applet).symlink_to("busybox")
        (self.work / "containers.conf").write_text(
            CONTAINERS_CONF.format(cni_bin=self.cni_bin, conf_dir=self.conf_dir)
        )

    def run(
        self, network: str, script: str, name: str = "podnet-test"
    ) -> subprocess.CompletedProcess[str]:
        podman = (
            f"podman --root {self.work}/root --runroot {self.work}/runroot "
            f"--storage-driver vfs --runtime runc run --rm --name {name} "
            f"--network {network} --rootfs {self.work}/rootfs sh -c '{script}'"
        )
        return subprocess.run(
            ["nsenter", f"--net=/run/netns/{self.netns}", "sh", "-c", f"exec {podman}"],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
            env={**os.environ, "CONTAINERS_CONF": str(self.work / "containers.conf")},
        )
