from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import NetnsFactory
from tests.e2e.single_node import VENV_BIN, SingleNode


@pytest.fixture(scope="session")
def cni_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The podnet executable installed the way a node gets it, plus the reference plugins."""
    directory = tmp_path_factory.mktemp("cni-bin")
    subprocess.run([str(VENV_BIN / "podnet-install-shim"), "--dest", str(directory)], check=True)
    for plugin in ("portmap", "loopback", "ptp", "host-local"):
        (directory / plugin).symlink_to(f"/usr/lib/cni/{plugin}")
    return directory


@pytest.fixture
def node(netns: NetnsFactory, tmp_path: Path, cni_bin: Path) -> Iterator[SingleNode]:
    """etcd + ipamd + agent running in one node namespace."""
    single = SingleNode(netns=netns("node"), state=tmp_path / "node", cni_bin=cni_bin)
    single.state.mkdir()
    try:
        single.start_etcd()
        single.start_ipamd()
        single.start_agent()
        yield single
    finally:
        single.stop_all()
        if sys.exc_info()[0] is not None:
            print((single.state / "agent.log").read_text(errors="replace")[-4000:])
