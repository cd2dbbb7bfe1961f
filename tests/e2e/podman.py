"""Runs a real libcni client, podman 4.3 with its CNI backend, inside a node namespace.

podman runs under `nsenter --net`, by default in the root mount namespace. With
private_mounts it runs in a mount namespace of its own with its own tmpfs on
/run/netns, as podman does in a private mount namespace, containerd with private
netns mounts or a runtime inside a kind node container: the netns it bind-mounts
there exists only in its view, and the agent has to resolve CNI_NETNS through the
calling shim's root. The OCI runtime is runc: crun refuses these VMs' hybrid
cgroup layout.
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
    private_mounts: bool = False

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
        command = f"exec {podman}"
        prefix = ["nsenter", f"--net=/run/netns/{self.netns}"]
        if self.private_mounts:
            command = f"mount -t tmpfs podnet-private-netns /run/netns && {command}"
            prefix += ["unshare", "--mount", "--propagation", "private"]
        return subprocess.run(
            [*prefix, "sh", "-c", command],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
            env={**os.environ, "CONTAINERS_CONF": str(self.work / "containers.conf")},
        )
