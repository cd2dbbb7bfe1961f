"""Agents from podnet's image (`up --agent-image`), run by podman as the DaemonSet runs them.

First an init step copies the image's static shim into the CNI bin dir
(`podnet-install-shim --prebuilt`). Then the agent runs in the node's network namespace
with the host PID namespace (it opens CNI_NETNS through the shim's /proc/<pid>/root),
NET_ADMIN, SYS_ADMIN and SYS_PTRACE only, a read-only root, /run/netns (rslave), the
lab's pki dir (read-only), and the node's socket, spool and conf dirs at the paths they
have on the host, since the conflist it writes names them for the shim. The image is
never pulled.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tools.lab.errors import LabStartError, LabUsageError
from tools.lab.probes import log_tail
from tools.lab.state import DaemonRecord, NodeRecord

# crun fails on this machine's hybrid cgroup hierarchy; runc with cgroupfs works.
PODMAN = ("podman", "--runtime", "runc", "--cgroup-manager", "cgroupfs")
ULIMITS = ("--ulimit", "nofile=1024:1024", "--ulimit", "nproc=4096:4096")
CAPABILITIES = ("NET_ADMIN", "SYS_ADMIN", "SYS_PTRACE")
IMAGE_SHIM = "/usr/lib/podnet/podnet"
BIN_DIR_INSIDE = "/host/opt/cni/bin"
NETNS_DIR = "/run/netns"
PREFIX_LABEL = "podnet-lab.prefix"
PODMAN_TIMEOUT_SECONDS = 120.0


def container_name(prefix: str, role: str) -> str:
    return f"{prefix}{role}-agent"


def _podman(
    *args: str, timeout: float = PODMAN_TIMEOUT_SECONDS
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*PODMAN, *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def require_image(image: str) -> None:
    """Refuses before anything is made when podman or the image is missing."""
    if shutil.which("podman") is None:
        raise LabUsageError("--agent-image: podman is not installed")
    if _podman("image", "exists", image).returncode != 0:
        raise LabUsageError(
            f"--agent-image: no image {image} in podman's store; build it with "
            "scripts/build-image.sh (the lab never pulls)"
        )


def install_shim_from_image(image: str, bin_dir: Path) -> None:
    """The DaemonSet's init container: the image's shim copied atomically into bin_dir."""
    done = _podman(
        "run", "--rm", "--pull", "never", "--network", "none", *ULIMITS,
        "--cap-drop", "all", "--read-only",
        "--volume", f"{bin_dir}:{BIN_DIR_INSIDE}",
        image,
        "podnet-install-shim", "--bin-dir", BIN_DIR_INSIDE, "--prebuilt", IMAGE_SHIM,
    )  # fmt: skip
    if done.returncode != 0:
        raise LabStartError(
            f"installing the shim from {image} into {bin_dir} failed: {done.stderr.strip()}"
        )


def _same_path_mounts(node: NodeRecord) -> list[str]:
    directories = {str(Path(node.agent_socket).parent), node.spool_dir, node.cni_conf_dir}
    return [f"--volume={path}:{path}" for path in sorted(directories)]


def agent_container_argv(
    image: str, prefix: str, node: NodeRecord, pki_dir: Path, agent_flags: list[str]
) -> list[str]:
    return [
        *PODMAN, "run", "--detach", "--rm", "--replace", "--pull", "never",
        "--name", container_name(prefix, node.role),
        "--label", f"{PREFIX_LABEL}={prefix}",
        *ULIMITS,
        "--network", f"ns:{NETNS_DIR}/{node.netns}",
        "--pid", "host",
        "--cap-drop", "all", "--cap-add", ",".join(CAPABILITIES),
        "--security-opt", "no-new-privileges",
        "--read-only",
        # The container's stdout and stderr are podman's: the lab's log file (and podman
        # prints no container ID there).
        "--log-driver", "passthrough",
        f"--volume={NETNS_DIR}:{NETNS_DIR}:rslave",
        f"--volume={pki_dir}:{pki_dir}:ro",
        *_same_path_mounts(node),
        image,
        "podnet-agent", *agent_flags,
    ]  # fmt: skip


def start_agent_container(
    image: str, prefix: str, node: NodeRecord, pki_dir: Path, agent_flags: list[str], log: Path
) -> DaemonRecord:
    """Starts the agent's container; the record holds the agent's PID (a host PID), so
    stopping and killing it work as for an agent started directly."""
    name = container_name(prefix, node.role)
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as output:
        started = subprocess.run(
            agent_container_argv(image, prefix, node, pki_dir, agent_flags),
            stdout=output,
            stderr=output,
            stdin=subprocess.DEVNULL,
            timeout=PODMAN_TIMEOUT_SECONDS,
            check=False,
        )
    if started.returncode != 0:
        raise LabStartError(
            f"podman could not start {name} (status {started.returncode}); "
            f"its log ({log}) ends with:\n" + log_tail(log)
        )
    inspected = _podman("inspect", "--format", "{{.State.Pid}}", name)
    pid = int(inspected.stdout.strip() or 0) if inspected.returncode == 0 else 0
    if pid <= 0:
        raise LabStartError(f"{name} exited at once; its log ({log}) ends with:\n" + log_tail(log))
    return DaemonRecord("podnet-agent", node.netns, node.http_address, pid, str(log))


def remove_containers(prefix: str, role: str | None = None) -> list[str]:
    """Removes this lab's agent containers (one node's with role), running or not;
    returns their names. Nothing to do without podman."""
    if shutil.which("podman") is None:
        return []
    listed = _podman(
        "ps", "--all", "--filter", f"label={PREFIX_LABEL}={prefix}", "--format", "{{.Names}}"
    )
    names = listed.stdout.split()
    if role is not None:
        names = [name for name in names if name == container_name(prefix, role)]
    if names:
        _podman("rm", "--force", "--ignore", "--time", "2", *names)
    return names
