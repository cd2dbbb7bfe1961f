"""The agent's lifecycle: start order, background loops, clean shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Coroutine, Mapping
from ipaddress import IPv4Address, IPv4Network
from pathlib import Path

from grpc_health.v1 import health_pb2
from podnet.logs import log_event
from podnet.shim.spool import count_spooled, discard, load_spooled
from podnet.v1 import cni_pb2

from netagent.config import AgentConfig
from netagent.controllers import conflist
from netagent.controllers.node_range import NodeRangeHolder
from netagent.controllers.peer_route_follower import PeerRouteFollower
from netagent.dataplane.config import DataplaneConfig
from netagent.dataplane.kernel import KernelDataplane
from netagent.dataplane.route_diff import RouteDiff
from netagent.errors import AgentStartError
from netagent.ipam_client import NodeRange
from netagent.metrics import AgentMetrics
from netagent.seams import Dataplane, Ipam
from netagent.server.admin import AdminService
from netagent.server.attachment_journal import AttachmentJournal
from netagent.server.cni_socket import SERVICE_NAME, start_cni_server
from netagent.server.http import build_app, start_http
from netagent.server.status import AgentStatus, PeerRange, add_status_route
from netagent.verbs.invocation import InvocationHandler
from netagent.verbs.service import CniService, ServiceSettings

logger = logging.getLogger("podnet.agent")


def _reason(error: BaseException) -> str:
    if isinstance(error, OSError) and error.errno:
        return os.strerror(error.errno)
    return str(error)


def _remove_socket(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError, NotADirectoryError):
        path.unlink()


SPOOL_RETRY_SECONDS = 5.0


class Agent:
    def __init__(self, config: AgentConfig, mtu: int, dataplane: Dataplane, ipam: Ipam) -> None:
        self.config = config
        self.metrics = AgentMetrics()
        self.dataplane = dataplane
        self.ipam = ipam
        self.metrics.spool_pending.set_function(lambda: count_spooled(config.spool_dir))
        self.holder = NodeRangeHolder(self.ipam, config.node_name, str(config.node_ip))
        self._ipamd_back = asyncio.Event()
        self.peers = PeerRouteFollower(
            self.ipam, config.node_name, self._sync_peer_routes, self._ipamd_back.set
        )
        self.service = CniService(
            ServiceSettings(config.node_name, config.spool_dir, mtu),
            self.ipam,
            self.dataplane,
            self.holder,
            self.metrics,
            ipamd_reachable=lambda: self.peers.connected,
        )
        self.handler = InvocationHandler(self.service, self.metrics)
        self.journal = AttachmentJournal()
        self.mtu = mtu
        self._stop = asyncio.Event()
        self._background: set[asyncio.Task[None]] = set()
        self.admin = AdminService.for_agent(self, self.journal, self.metrics.registry)

    @classmethod
    def from_config(cls, config: AgentConfig, mtu: int, ipam: Ipam) -> Agent:
        """The agent on this node's kernel, talking to ipamd through ipam."""
        return cls(config, mtu, KernelDataplane(DataplaneConfig()), ipam)

    def readiness(self) -> tuple[bool, str]:
        node_range = self.holder.current
        if node_range is None:
            return False, "fenced: no pod range held"
        if not self.service.serving_adds:
            return False, "reconciling"
        if not self.peers.synced.is_set():
            return False, "waiting for peer ranges"
        return True, f"ready: {node_range.cidr}"

    def stop(self) -> None:
        self._stop.set()

    async def status(self) -> AgentStatus:
        node_range = self.holder.current
        fenced = node_range is None or not self.service.serving_adds
        reason = "no pod range held" if node_range is None else "reconciling"
        return AgentStatus(
            node=self.config.node_name,
            range=str(node_range.cidr) if node_range else None,
            fenced=fenced,
            fenced_reason=reason if fenced else None,
            ipamd_stream_connected=self.peers.connected,
            peer_ranges=tuple(
                PeerRange(r.node, str(r.cidr), str(r.node_ip))
                for r in sorted(self.peers.peers.values(), key=lambda r: r.node)
            ),
            attachments=len(await self.dataplane.list_host_veths()),
            spool_length=len(load_spooled(self.config.spool_dir)),
        )

    async def run(self) -> None:
        """Each start step registers its undo as soon as it succeeded, so a failure at any
        step, like the stop at the end, undoes the earlier ones in reverse: background
        loops cancelled (they use everything below), HTTP closed, the CNI server stopped
        (in-flight calls get a grace period) and its socket removed, the conflist removed
        (when asked to), the ipamd channel closed last."""
        async with contextlib.AsyncExitStack() as stack:
            await self._start_and_serve(stack)

    async def _start_and_serve(self, stack: contextlib.AsyncExitStack) -> None:
        stack.push_async_callback(self.ipam.close)
        if self.config.remove_conf_on_exit:
            stack.callback(conflist.remove, self.config.conflist_path)
        stack.callback(_remove_socket, self.config.socket_path)
        try:
            cni_endpoint = await start_cni_server(
                self.config.socket_path,
                self.journal.recording(self.handler),
                self.config.cni_allowed_uids,
                self.metrics.cni_callers_refused.inc,
            )
        except (OSError, RuntimeError) as error:
            raise AgentStartError(
                f"cannot serve CNI on {self.config.socket_path}: {_reason(error)}"
            ) from None
        stack.push_async_callback(cni_endpoint.stop, 2)
        health = cni_endpoint.health
        app = build_app(self.metrics, self.readiness)
        add_status_route(app, self.status)
        try:
            http = await start_http(app, self.config.http_host, self.config.http_port)
        except OSError as error:
            address = f"{self.config.http_host}:{self.config.http_port}"
            raise AgentStartError(f"cannot serve HTTP on {address}: {_reason(error)}") from None
        stack.push_async_callback(http.cleanup)
        self.holder.on_change(self._on_range_change)
        await self.dataplane.enable_ipv4_forwarding()
        stack.push_async_callback(self._cancel_background)
        stack.callback(log_event, logger, "stopping")
        if self.admin is not None:
            await self.admin.start()
            stack.push_async_callback(self.admin.stop)

        node_range = await self.holder.acquire_until_held(self._stop)
        if node_range is None:
            return
        await self.service.reconcile()
        await self._replay_spool()
        self.service.start_serving_adds()
        self._start_background(self.holder.keep_alive(self._stop))
        self._start_background(self.peers.run(self._stop))
        self._start_background(self._retry_spool_periodically())
        await health.set(SERVICE_NAME, health_pb2.HealthCheckResponse.SERVING)
        self._log_ready(node_range.cidr)
        await self._stop.wait()

    def _start_background(self, work: Coroutine[object, object, None]) -> None:
        task = asyncio.create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _cancel_background(self) -> None:
        tasks = list(self._background)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _on_range_change(self, node_range: NodeRange | None, reclaimed: bool) -> None:
        self.metrics.range_held.set(1 if node_range else 0)
        if node_range is None:
            return
        if reclaimed:
            self._disconnect_pods_of_reclaimed_range(node_range.cidr)
        written = conflist.write_if_changed(
            self.config.conflist_path,
            conflist.render_conflist(
                self.config.socket_path, self.config.spool_dir, str(node_range.cidr), self.mtu
            ),
        )
        if written:
            log_event(logger, "conflist_written", path=str(self.config.conflist_path))
        await self.dataplane.apply_masquerade(
            node_range.cluster_cidr, node_range.cidr, self.config.masquerade
        )

    def _disconnect_pods_of_reclaimed_range(self, cidr: IPv4Network) -> None:
        """ipamd reclaimed our range while we were cut off, with every pod allocation in
        it; the addresses may be handed out again, here or on another node, so the pods
        still holding them must lose them. Having no allocation, they are what the
        start-up reconcile removes; ADD stays fenced until it has run. Runs apart from
        the caller, the range heartbeat."""
        log_event(
            logger,
            "range_reclaimed",
            logging.ERROR,
            cidr=str(cidr),
            action="disconnecting the pods attached before the reclaim",
        )
        self.service.stop_serving_adds()
        self._start_background(self._reconcile_until_done(cidr))

    async def _reconcile_until_done(self, cidr: IPv4Network) -> None:
        delay = 0.2
        while not self._stop.is_set():
            try:
                await self.service.reconcile()
            except Exception as error:
                log_event(logger, "reconcile_failed", logging.WARNING, error=error)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), delay)
                delay = min(delay * 2, 2.0)
                continue
            self.service.start_serving_adds()
            self._log_ready(cidr)
            return

    def _log_ready(self, cidr: IPv4Network) -> None:
        """The line operators (and the lab) take as "serving ADDs from this range"."""
        log_event(
            logger, "ready", cidr=str(cidr), socket=str(self.config.socket_path), mtu=self.mtu
        )

    async def _sync_peer_routes(self, desired: Mapping[IPv4Network, IPv4Address]) -> RouteDiff:
        diff = await self.dataplane.sync_peer_routes(desired)
        self.metrics.peer_routes.set(len(desired))
        return diff

    async def _replay_spool(self) -> int:
        replayed = 0
        for spooled in load_spooled(self.config.spool_dir):
            invocation = cni_pb2.CniInvocation.FromString(spooled.message_bytes)
            invocation.replayed = True
            outcome = await self.handler(invocation)
            if outcome.exit_code == 0:
                discard(spooled)
                replayed += 1
                self.metrics.spooled_dels_replayed.inc()
        if replayed:
            log_event(logger, "spool_replayed", count=replayed)
        return replayed

    async def _retry_spool_periodically(self) -> None:
        """Retries spooled DELs every few seconds, and at once when ipamd is back."""
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._ipamd_back.wait(), SPOOL_RETRY_SECONDS)
            self._ipamd_back.clear()
            if not self._stop.is_set():
                await self._replay_spool()
