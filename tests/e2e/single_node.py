"""A one-node podnet in a network namespace: etcd, ipamd and the agent inside it.

Tests drive it through the real `podnet` executable, as a runtime does.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podnetctl.etcd_access import EtcdAccess
from tools.lab.etcd_server import EtcdServer
from tools.lab.pki import IPAMD_ETCD_USER, LabPki
from tools.lab.processes import spawn, stop, wait_until

VENV_BIN = Path(sys.executable).parent
ETCD_PORT, ETCD_PEER_PORT, IPAMD_PORT, IPAMD_HTTP_PORT, HTTP_PORT = 2379, 2380, 9600, 9601, 9610
ETCD_PREFIX = "/podnet"


@dataclass
class CniCall:
    returncode: int
    stdout: str
    stderr: str
    pid: int = 0
    """The shim's pid (wrappers such as setpriv or unshare exec it in place)."""

    @property
    def json(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.stdout)
        return parsed


@dataclass
class SingleNode:
    netns: str
    state: Path
    cni_bin: Path
    cluster_cidr: str = "10.244.0.0/16"
    node_prefix_length: int = 24
    node_name: str = "node-a"
    lease_ttl: int = 15
    quarantine: int = 60
    etcd: EtcdServer | None = None
    ipamd: subprocess.Popen[bytes] | None = None
    agent: subprocess.Popen[bytes] | None = None
    extra_agent_args: list[str] = field(default_factory=list)
    socket_path: Path | None = None
    """Where the agent socket goes (default: under state)."""
    agent_wrapper: list[str] = field(default_factory=list)  # e.g. setpriv with fewer caps
    ipamd_wrapper: list[str] = field(default_factory=list)  # e.g. strace

    @property
    def socket(self) -> Path:
        return self.socket_path or self.state / "agent" / "agent.sock"

    @property
    def spool_dir(self) -> Path:
        return self.state / "spool"

    @property
    def conf_dir(self) -> Path:
        return self.state / "net.d"

    @property
    def conflist(self) -> dict[str, Any]:
        loaded: dict[str, Any] = json.loads((self.conf_dir / "10-podnet.conflist").read_text())
        return loaded

    def plugin_config(self, cni_version: str = "1.0.0", **extra: Any) -> dict[str, Any]:
        return {
            "cniVersion": cni_version,
            "name": "podnet",
            "type": "podnet",
            "agentSocket": str(self.socket),
            "spoolDir": str(self.spool_dir),
            **extra,
        }

    @property
    def pki(self) -> LabPki:
        return LabPki(self.state / "pki")

    def start_etcd(self) -> None:
        self.etcd = EtcdServer(
            self.state / "etcd",
            "127.0.0.1",
            ETCD_PORT,
            ETCD_PEER_PORT,
            tls=self.pki.etcd_member("etcd", "127.0.0.1"),
            netns=self.netns,
        )
        self.etcd.start()
        self.etcd.enable_auth(self.pki.etcd_root(), EtcdAccess(ETCD_PREFIX, IPAMD_ETCD_USER))

    def start_ipamd(self) -> None:
        log = self.state / "ipamd.log"
        self.ipamd = spawn(
            [
                *self.ipamd_wrapper,
                str(VENV_BIN / "podnet-ipamd"),
                "--listen",
                f"127.0.0.1:{IPAMD_PORT}",
                "--http-host",
                "127.0.0.1",
                "--http-port",
                str(IPAMD_HTTP_PORT),
                "--etcd",
                f"127.0.0.1:{ETCD_PORT}",
                "--etcd-prefix",
                ETCD_PREFIX,
                *self.pki.ipamd_etcd_flags(),
                *self.pki.ipamd_tls_flags(["127.0.0.1"]),
                "--cluster-cidr",
                self.cluster_cidr,
                "--node-prefix-length",
                str(self.node_prefix_length),
                "--node-lease-ttl",
                str(self.lease_ttl),
                "--quarantine",
                str(self.quarantine),
            ],
            log,
            netns=self.netns,
        )
        wait_until(
            lambda: self.http_get("/readyz", IPAMD_HTTP_PORT)[0] == 200,
            20,
            "ipamd ready",
            self.ipamd,
            log,
        )

    def start_agent(self, wait_ready: bool = True) -> None:
        log = self.state / "agent.log"
        self.agent = spawn(
            [
                *self.agent_wrapper,
                str(VENV_BIN / "podnet-agent"),
                "--node-name",
                self.node_name,
                "--node-ip",
                "127.0.0.1",
                "--ipamd",
                f"127.0.0.1:{IPAMD_PORT}",
                *self.pki.node_tls_flags(self.node_name),
                "--socket",
                str(self.socket),
                "--spool-dir",
                str(self.spool_dir),
                "--cni-conf-dir",
                str(self.conf_dir),
                "--http-listen",
                f"127.0.0.1:{HTTP_PORT}",
                "--log-level",
                "debug",
                *self.extra_agent_args,
            ],
            log,
            netns=self.netns,
        )
        if wait_ready:
            wait_until(self.agent_ready, 30, "agent ready", self.agent, log)

    def agent_ready(self) -> bool:
        return self.http_get("/readyz")[0] == 200

    def http_get(self, path: str, port: int = HTTP_PORT) -> tuple[int, str]:
        """GET from inside the node namespace: the agent's HTTP unless port says otherwise."""
        done = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                self.netns,
                str(VENV_BIN / "python"),
                "-c",
                "import sys,urllib.request,urllib.error\n"
                "try:\n r=urllib.request.urlopen(sys.argv[1],timeout=2);print(r.status);"
                "print(r.read().decode())\n"
                "except urllib.error.HTTPError as e: print(e.code);print(e.read().decode())\n"
                "except OSError: print(0)",
                f"http://127.0.0.1:{port}{path}",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        status, _, body = done.stdout.partition("\n")
        return (int(status) if status.strip().isdigit() else 0), body

    def stop_agent(self) -> None:
        if self.agent is not None:
            stop(self.agent)
            self.agent = None

    def stop_ipamd(self) -> None:
        if self.ipamd is not None:
            stop(self.ipamd)
            self.ipamd = None

    def stop_all(self) -> None:
        self.stop_agent()
        self.stop_ipamd()
        if self.etcd is not None:
            self.etcd.stop()

    def cni(
        self,
        command: str,
        container_id: str = "",
        netns: str = "",
        ifname: str = "eth0",
        config: dict[str, Any] | bytes | None = None,
        args: str = "",
        env_override: dict[str, str] | None = None,
        wrapper: Sequence[str] = (),
        shim: Path | None = None,
    ) -> CniCall:
        """Runs the real podnet executable (shim, default the installed one) with CNI env
        and stdin, under wrapper (e.g. setpriv) if given."""
        stdin = (
            config
            if isinstance(config, bytes)
            else json.dumps(config if config is not None else self.plugin_config()).encode()
        )
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "CNI_COMMAND": command,
            "CNI_CONTAINERID": container_id,
            "CNI_NETNS": netns,
            "CNI_IFNAME": ifname,
            "CNI_ARGS": args,
            "CNI_PATH": f"{self.cni_bin}:/usr/lib/cni",
            **(env_override or {}),
        }
        process = subprocess.Popen(
            [*wrapper, str(shim or self.cni_bin / "podnet")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        stdout, stderr = process.communicate(stdin, timeout=60)
        return CniCall(process.returncode, stdout.decode(), stderr.decode(), process.pid)


def ns_json(netns: str, *args: str) -> Any:
    out = subprocess.run(
        ["ip", "-n", netns, "-j", *args], capture_output=True, text=True, check=True
    ).stdout
    return json.loads(out or "[]")
