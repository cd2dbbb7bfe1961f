"""Fixtures shared by every test: a CA, a real etcd (TLS, client certificates, RBAC),
unique network namespaces."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from podnet.tls.files import TlsFiles

from podnetctl.etcd_access import EtcdAccess
from tools.lab.etcd_server import EtcdEndpoint, EtcdServer
from tools.lab.netns import create_netns, delete_netns_with_prefix
from tools.lab.pki import IPAMD_ETCD_USER, LabPki
from tools.lab.ports import free_port

# Every namespace a test makes starts with this, unique per pytest run.
RUN_PREFIX = f"pnt{os.getpid():x}-"


# Every test's etcd keys are under this; only ipamd's etcd identity may touch them.
ETCD_TEST_PREFIX = "/podnet-test"


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> LabPki:
    """The session's podnet CA; certificates are issued on first use."""
    return LabPki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="session")
def etcd_server(tmp_path_factory: pytest.TempPathFactory, pki: LabPki) -> Iterator[EtcdServer]:
    """One real etcd on loopback for the session, TLS only, client certificates required,
    RBAC on; tests isolate by key prefix."""
    base = tmp_path_factory.mktemp("etcd")
    server = EtcdServer(
        base / "data",
        "127.0.0.1",
        free_port(),
        free_port(),
        tls=pki.etcd_member("podnet-etcd", "127.0.0.1"),
    )
    server.start()
    try:
        server.enable_auth(pki.etcd_root(), EtcdAccess(ETCD_TEST_PREFIX, IPAMD_ETCD_USER))
        yield server
    finally:
        server.stop()


@pytest.fixture
def etcd(etcd_server: EtcdServer) -> EtcdEndpoint:
    return etcd_server.endpoint


@pytest.fixture(scope="session")
def etcd_client_tls(pki: LabPki) -> TlsFiles:
    """ipamd's etcd identity: the one etcd lets read and write podnet's keys."""
    return pki.ipamd_etcd_client()


@pytest.fixture
def etcd_prefix() -> str:
    """A key prefix no other test uses, so tests can share the session's etcd."""
    return f"{ETCD_TEST_PREFIX}/{uuid.uuid4().hex[:12]}"


class NetnsFactory:
    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self._count = 0

    def __call__(self, role: str = "ns") -> str:
        self._count += 1
        name = f"{self.prefix}{role}{self._count}"
        create_netns(name)
        return name


@pytest.fixture
def netns() -> Iterator[NetnsFactory]:
    """Creates namespaces with a per-test unique prefix; removes them all afterwards."""
    factory = NetnsFactory(f"{RUN_PREFIX}{uuid.uuid4().hex[:6]}-")
    yield factory
    delete_netns_with_prefix(factory.prefix)


@pytest.fixture(scope="session", autouse=True)
def _sweep_run_namespaces() -> Iterator[None]:
    yield
    delete_netns_with_prefix(RUN_PREFIX)


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    path = tmp_path / "state"
    path.mkdir(mode=0o700)
    return path
