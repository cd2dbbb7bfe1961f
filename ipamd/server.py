"""Wires ipamd together and runs it: bootstrap against etcd, warm the indexes, serve gRPC
(Ipam, health, reflection) until asked to stop."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Awaitable, Callable

import grpc
from grpc_health.v1 import _async as health_aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from podnet.logs import log_event
from podnet.tls.grpc_credentials import server_credentials
from podnet.v1 import ipam_pb2, ipam_pb2_grpc
from prometheus_client import CollectorRegistry

from ipamd.allocator import Allocator
from ipamd.call_guard import CallGuard
from ipamd.config import IpamConfig
from ipamd.errors import ConfigError, StoreUnavailable
from ipamd.etcd_connection import EtcdConnection
from ipamd.guard_metrics import GuardMetrics
from ipamd.indexes import AddressIndex, ClaimIndex, PrefixMirror, StoreHealth
from ipamd.keys import KeyLayout
from ipamd.range_holders import RangeHolders
from ipamd.reclaimer import Reclaimer
from ipamd.records import StoredClusterConfig
from ipamd.reservation_batcher import ReservationBatcher
from ipamd.server_tls import reload_on_hangup, watch_server_files
from ipamd.servicer import IpamServicer
from ipamd.store import EtcdStore

log = logging.getLogger(__name__)

IPAM_SERVICE = ipam_pb2.DESCRIPTOR.services_by_name["Ipam"].full_name
SHUTDOWN_GRACE_SECONDS = 2.0
BOOTSTRAP_RETRY_MAX_SECONDS = 5.0


async def bootstrap_cluster_config(store: EtcdStore, config: IpamConfig) -> None:
    """Creates or checks <prefix>/config, waiting for etcd as long as it takes."""
    wanted = StoredClusterConfig(
        str(config.cluster.cluster_cidr), config.cluster.node_prefix_length
    )
    delay = 0.2
    while True:
        try:
            await store.ensure_cluster_config(wanted)
            return
        except StoreUnavailable as error:
            log.warning("etcd unavailable at start, retrying", extra={"error": str(error)})
            await asyncio.sleep(delay)
            delay = min(delay * 2, BOOTSTRAP_RETRY_MAX_SECONDS)


class HealthPublisher:
    """Mirrors the store's reachability into grpc.health.v1 for '' and the Ipam service."""

    def __init__(self, servicer: health_aio.HealthServicer) -> None:
        self._servicer = servicer
        self._tasks: set[asyncio.Task[None]] = set()

    def publish(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        log.info("health", extra={"serving": serving})
        for service in ("", IPAM_SERVICE):
            task = asyncio.get_running_loop().create_task(self._servicer.set(service, status))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)


async def serve(
    config: IpamConfig,
    stop: asyncio.Event,
    on_serving: Callable[[str], Awaitable[None]] | None = None,
    registry: CollectorRegistry | None = None,
) -> None:
    """Runs ipamd until stop is set. Raises ConfigError (incl. ConfigMismatch) before
    listening when the configuration cannot work."""
    tls_files = watch_server_files(config.server_tls) if config.server_tls else None
    if tls_files is None:
        log_event(
            log,
            "insecure_plaintext",
            logging.WARNING,
            detail="gRPC without TLS: any caller can act as any node",
        )
    connection = EtcdConnection(config.etcd_endpoints, config.etcd_timeout, tls=config.etcd_tls)
    tasks: list[asyncio.Task[None]] = []
    closers: list[Callable[[], Awaitable[None]]] = []
    try:
        keys = KeyLayout(config.etcd_prefix)
        store = EtcdStore(connection, keys)
        await bootstrap_cluster_config(store, config)

        health_servicer = health_aio.HealthServicer()
        for service in ("", IPAM_SERVICE):
            await health_servicer.set(service, health_pb2.HealthCheckResponse.NOT_SERVING)
        store_health = StoreHealth(
            ["claims", "holders", "addresses"], HealthPublisher(health_servicer).publish
        )

        claims = ClaimIndex(keys, config.cluster)
        holders = RangeHolders(keys)
        addresses = AddressIndex(keys)
        mirrors = [
            PrefixMirror(
                "claims", store, keys.claims, claims.reset, claims.apply, store_health.report
            ),
            PrefixMirror(
                "holders", store, keys.claims, holders.reset, holders.apply, store_health.report
            ),
            PrefixMirror(
                "addresses", store, keys.ips, addresses.reset, addresses.apply, store_health.report
            ),
        ]
        tasks += [asyncio.create_task(m.run(), name=f"mirror-{m.name}") for m in mirrors]
        for mirror in mirrors:
            await mirror.loaded.wait()
        reclaimer = Reclaimer(store, config.quarantine_seconds, config.reconcile_interval)
        await reclaimer.restore_unwatched_lapses(config.node_lease_ttl)
        tasks.append(asyncio.create_task(reclaimer.run(), name="reclaimer"))

        reserver = ReservationBatcher(store, max_waiting=config.limits.queued_reservations)
        closers.append(reserver.close)
        allocator = Allocator(
            store, config.cluster, config.node_lease_ttl, claims, addresses, reserver
        )
        ipam_servicer = IpamServicer(
            allocator, store, str(config.cluster.cluster_cidr), config.node_lease_ttl
        )
        guard = CallGuard(
            config.server_tls.trust_domain if config.server_tls else None,
            config.limits,
            holders,
            GuardMetrics(registry),
        )
        server = grpc.aio.server(interceptors=[guard], options=config.limits.server_options())
        ipam_pb2_grpc.add_IpamServicer_to_server(ipam_servicer, server)
        health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
        reflection.enable_server_reflection(
            (IPAM_SERVICE, health.SERVICE_NAME, reflection.SERVICE_NAME), server
        )
        host, _, _ = config.listen.rpartition(":")
        try:
            port = (
                server.add_secure_port(config.listen, server_credentials(tls_files))
                if tls_files
                else server.add_insecure_port(config.listen)
            )
        except RuntimeError as error:
            raise ConfigError(f"cannot listen on {config.listen}: {error}") from None
        await server.start()
        address = f"{host}:{port}"
        log.info("serving", extra={"address": address, "tls": tls_files is not None})
        if on_serving is not None:
            await on_serving(address)

        with reload_on_hangup(tls_files) if tls_files else contextlib.nullcontext():
            await stop.wait()
        log.info("stopping", extra={"grace_seconds": SHUTDOWN_GRACE_SECONDS})
        await health_servicer.enter_graceful_shutdown()
        ipam_servicer.end_streams()
        await server.stop(SHUTDOWN_GRACE_SECONDS)
    finally:
        for close in closers:
            await close()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await connection.close()


async def run_until_signalled(config: IpamConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await serve(config, stop)
