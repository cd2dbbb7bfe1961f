"""A single-member etcd (Debian's etcd-server) on chosen ports in a data dir."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from deploy.lab.processes import spawn, stop, tcp_open, wait_until


@dataclass(frozen=True)
class EtcdEndpoint:
    host: str
    client_port: int

    @property
    def address(self) -> str:
        return f"{self.host}:{self.client_port}"


class EtcdServer:
    def __init__(
        self,
        data_dir: Path,
        host: str,
        client_port: int,
        peer_port: int,
        netns: str | None = None,
        name: str = "podnet-etcd",
    ) -> None:
        self.data_dir = data_dir
        self.endpoint = EtcdEndpoint(host, client_port)
        self.peer_port = peer_port
        self.netns = netns
        self.name = name
        self.log_path = data_dir.parent / f"{name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 20.0) -> None:
        etcd = shutil.which("etcd") or "/usr/bin/etcd"
        client_url = f"http://{self.endpoint.host}:{self.endpoint.client_port}"
        peer_url = f"http://{self.endpoint.host}:{self.peer_port}"
        self.process = spawn(
            [
                etcd,
                "--name",
                self.name,
                "--data-dir",
                str(self.data_dir),
                "--listen-client-urls",
                client_url,
                "--advertise-client-urls",
                client_url,
                "--listen-peer-urls",
                peer_url,
                "--initial-advertise-peer-urls",
                peer_url,
                "--initial-cluster",
                f"{self.name}={peer_url}",
                "--initial-cluster-state",
                "new",
                "--log-level",
                "warn",
                "--logger",
                "zap",
            ],
            self.log_path,
            netns=self.netns,
            env={"ETCD_UNSUPPORTED_ARCH": "", "ETCD_ENABLE_V2": "false"},
        )
        wait_until(
            lambda: tcp_open(self.endpoint.host, self.endpoint.client_port, self.netns),
            timeout,
            f"etcd on {self.endpoint.address}",
            self.process,
            self.log_path,
        )

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)
            self.process = None
