"""An etcd member (Debian's etcd-server) on chosen ports in a data dir: alone, or one of a
new cluster whose members are named up front. Over TLS, clients and peers must present a
certificate of the member's CA; plaintext only when asked for by tls=None."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from podnet.tls.files import TlsFiles

from podnetctl.etcd_access import EtcdAccess
from tools.lab.daemons import program_path
from tools.lab.netns import in_netns
from tools.lab.pki import EtcdMemberTls
from tools.lab.processes import spawn, stop, tcp_open, wait_until


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
        *,
        tls: EtcdMemberTls | None,
        netns: str | None = None,
        name: str = "podnet-etcd",
        cluster: Mapping[str, str] | None = None,
        quota_backend_bytes: int | None = None,
    ) -> None:
        """tls: this member's certificate (None: plaintext, for tests of plaintext only);
        cluster: every member's name and peer URL, this one included; alone if None;
        quota_backend_bytes: the database size past which etcd refuses writes (NOSPACE
        alarm), etcd's default (2 GiB) if None."""
        self.data_dir = data_dir
        self.tls = tls
        self.endpoint = EtcdEndpoint(host, client_port)
        self.peer_port = peer_port
        self.netns = netns
        self.name = name
        self.log_path = data_dir.parent / f"{name}.log"
        self.cluster = dict(cluster) if cluster is not None else {name: self.peer_url}
        self.quota_backend_bytes = quota_backend_bytes
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def scheme(self) -> str:
        return "http" if self.tls is None else "https"

    @property
    def peer_url(self) -> str:
        return f"{self.scheme}://{self.endpoint.host}:{self.peer_port}"

    def _tls_flags(self) -> list[str]:
        if self.tls is None:
            return []
        ca, cert, key = (
            str(path) for path in (self.tls.files.ca, self.tls.files.cert, self.tls.files.key)
        )
        return [
            "--client-cert-auth", "--trusted-ca-file", ca, "--cert-file", cert, "--key-file", key,
            "--peer-client-cert-auth", "--peer-trusted-ca-file", ca,
            "--peer-cert-file", cert, "--peer-key-file", key,
            "--peer-cert-allowed-hostname", self.tls.peer_hostname,
        ]  # fmt: skip

    def _quota_flags(self) -> list[str]:
        if self.quota_backend_bytes is None:
            return []
        return ["--quota-backend-bytes", str(self.quota_backend_bytes)]

    def start(self, timeout: float = 20.0) -> None:
        self.launch()
        self.wait_serving(timeout)

    def launch(self) -> None:
        """Starts the process. Members of a new cluster serve clients only once a quorum
        has started, so launch them all before waiting on any."""
        etcd = shutil.which("etcd") or "/usr/bin/etcd"
        client_url = f"{self.scheme}://{self.endpoint.host}:{self.endpoint.client_port}"
        peer_url = self.peer_url
        initial_cluster = ",".join(f"{name}={url}" for name, url in self.cluster.items())
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
                initial_cluster,
                "--initial-cluster-state",
                "new",
                "--log-level",
                "warn",
                "--logger",
                "zap",
                *self._tls_flags(),
                *self._quota_flags(),
            ],
            self.log_path,
            netns=self.netns,
            env={"ETCD_UNSUPPORTED_ARCH": "", "ETCD_ENABLE_V2": "false"},
        )

    def wait_serving(self, timeout: float) -> None:
        assert self.process is not None, "launch() first"
        wait_until(
            lambda: tcp_open(self.endpoint.host, self.endpoint.client_port, self.netns),
            timeout,
            f"etcd on {self.endpoint.address}",
            self.process,
            self.log_path,
        )

    def enable_auth(self, root: TlsFiles, access: EtcdAccess) -> None:
        """etcd RBAC: only access.user (by its certificate's CN) reaches access.prefix.
        Once for a cluster, through any member; again to grant another prefix. Runs
        `podnetctl etcd enable-auth` in the member's namespace."""
        assert self.tls is not None, "etcd auth by certificate needs TLS"
        argv = [
            program_path("podnetctl"), "etcd", "enable-auth",
            "--endpoint", self.endpoint.address,
            "--ca", str(root.ca), "--cert", str(root.cert), "--key", str(root.key),
            "--prefix", access.prefix, "--user", access.user, "--role", access.role,
        ]  # fmt: skip
        done = subprocess.run(
            in_netns(self.netns, argv), capture_output=True, text=True, timeout=60, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"etcd enable-auth failed: {done.stderr.strip()}")

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)
            self.process = None
