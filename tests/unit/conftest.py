"""Unit tests: no root, no etcd, no namespaces. The agent core runs on in-memory fakes of
the Protocols in netagent.seams; ipamd's Allocator on an in-memory AllocationStore."""

from __future__ import annotations

import asyncio
import shutil
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from podnet.v1 import cni_pb2

from netagent.agent import Agent
from netagent.config import parse_config
from netagent.controllers.node_range import NodeRangeHolder
from netagent.metrics import AgentMetrics
from netagent.verbs.invocation import InvocationHandler
from netagent.verbs.service import CniService, ServiceSettings
from tests.unit.cni_calls import Outcome, call, invocation
from tests.unit.fake_dataplane import FakeDataplane
from tests.unit.fake_ipamd import FakeIpamd
from tools.lab.ports import free_port

NODE = "node-a"
NODE_IP = "192.0.2.10"
UNIT_DIR = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test in tests/unit carries the unit mark (so `-m unit` selects all of them)."""
    for item in items:
        if UNIT_DIR in item.path.parents and item.get_closest_marker("unit") is None:
            raise pytest.UsageError(f"{item.nodeid} is in tests/unit but not marked unit")


@dataclass
class Node:
    """One node's CNI service on fakes, holding its range and serving ADDs."""

    dataplane: FakeDataplane
    ipamd: FakeIpamd
    holder: NodeRangeHolder
    service: CniService
    handler: InvocationHandler
    metrics: AgentMetrics
    spool_dir: Path

    async def add(self, container_id: str, netns: str | None = None, **config: Any) -> Outcome:
        netns = netns or self.dataplane.add_netns(f"/run/netns/{container_id}")
        return await call(self.handler, invocation("ADD", container_id, netns, config=config))

    def in_use(self) -> float | None:
        return self.metrics.registry.get_sample_value("podnet_allocations_in_use")

    async def delete(self, container_id: str, netns: str = "", **config: Any) -> Outcome:
        return await call(self.handler, invocation("DEL", container_id, netns, config=config))


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    dataplane = FakeDataplane()
    ipamd = FakeIpamd()
    metrics = AgentMetrics()
    holder = NodeRangeHolder(ipamd, NODE, NODE_IP)
    spool_dir = tmp_path / "spool"
    service = CniService(
        ServiceSettings(NODE, spool_dir, 1500),
        ipamd,
        dataplane,
        holder,
        metrics,
        ipamd_reachable=lambda: ipamd.reachable,
    )
    await holder.acquire()
    service.start_serving_adds()
    yield Node(
        dataplane, ipamd, holder, service, InvocationHandler(service, metrics), metrics, spool_dir
    )


@dataclass
class RunningAgent:
    """A whole Agent on fakes, its run() in a task (gRPC socket and HTTP on loopback)."""

    agent: Agent
    dataplane: FakeDataplane
    ipamd: FakeIpamd
    task: asyncio.Task[None]

    @property
    def spool_dir(self) -> Path:
        return self.agent.config.spool_dir

    async def call(self, request: cni_pb2.CniInvocation) -> Outcome:
        return await call(self.agent.handler, request)

    def metric(self, name: str) -> float | None:
        return self.agent.metrics.registry.get_sample_value(name)


async def eventually(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 5.0
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


class AgentStarter:
    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.running: list[RunningAgent] = []

    async def start(
        self, dataplane: FakeDataplane, ipamd: FakeIpamd, wait_ready: bool = True
    ) -> RunningAgent:
        config = parse_config(
            [
                *("--node-name", NODE, "--node-ip", NODE_IP, "--ipamd", "127.0.0.1:1"),
                *("--socket", str(self.workdir / "agent.sock")),
                *("--spool-dir", str(self.workdir / "spool")),
                *("--cni-conf-dir", str(self.workdir / "net.d")),
                *("--http-listen", f"127.0.0.1:{free_port()}", "--mtu", "1500"),
                "--insecure-plaintext",  # the fake ipamd is in-process
            ]
        )
        agent = Agent(config, 1500, dataplane, ipamd)
        running = RunningAgent(agent, dataplane, ipamd, asyncio.create_task(agent.run()))
        self.running.append(running)
        if wait_ready:
            await eventually(lambda: agent.readiness()[0] or running.task.done(), "ready")
            assert agent.readiness()[0], agent.readiness()
        return running

    async def stop_all(self) -> None:
        for running in self.running:
            running.agent.stop()
            await asyncio.wait_for(running.task, 10)


@pytest.fixture
async def agents() -> AsyncIterator[AgentStarter]:
    # A short path: unix socket paths are limited to 107 bytes.
    workdir = Path(tempfile.mkdtemp(prefix="pnu-"))
    starter = AgentStarter(workdir)
    try:
        yield starter
    finally:
        await starter.stop_all()
        shutil.rmtree(workdir, ignore_errors=True)
