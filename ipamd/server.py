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

from ipamd.allocator import Allocator
from ipamd.call_guard import CallGuard
from ipamd.compactor import compactor_for
from ipamd.config import IpamConfig
from ipamd.errors import ConfigError, StoreUnavailable
from ipamd.etcd_connection import EtcdConnection
from ipamd.guard_metrics import GuardMetrics
from ipamd.http import Readiness, build_app, start_http
from ipamd.indexes import AddressIndex, ClaimIndex, PrefixMirror, StoreHealth
from ipamd.keys import KeyLayout
from ipamd.metrics import IpamdMetrics
from ipamd.range_holders import RangeHolders
from ipamd.reclaimer import Reclaimer
from ipamd.records import StoredClusterConfig
from ipamd.replica_status import ReplicaStatus
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
            log_event(log, "etcd_unavailable_at_start", logging.WARNING, error=error)
            await asyncio.sleep(delay)
            delay = min(delay * 2, BOOTSTRAP_RETRY_MAX_SECONDS)


class HealthPublisher:
    """Mirrors the store's reachability into grpc.health.v1 for '' and the Ipam service,
    and into /readyz."""

    def __init__(self, servicer: health_aio.HealthServicer, readiness: Readiness) -> None:
        self._servicer = servicer
        self._readiness = readiness
        self._tasks: set[asyncio.Task[None]] = set()

    def publish(self, serving: bool) -> None:
        status = (
            health_pb2.HealthCheckResponse.SERVING
            if serving
            else health_pb2.HealthCheckResponse.NOT_SERVING
        )
        log_event(log, "store_health", serving=serving)
        self._readiness.store_up = serving
        for service in ("", IPAM_SERVICE):
            task = asyncio.get_running_loop().create_task(self._servicer.set(service, status))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)


async def _until_stopped(step: Awaitable[object], stop: asyncio.Event) -> bool:
    """Runs step unless stop is set first (then cancels it). True if step finished."""
    done = asyncio.ensure_future(step)
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({done, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        if not done.done():
            done.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await done
    if done.cancelled():
        return False
    done.result()  # raises what step raised
    return True


async def _cancel_and_wait(task: asyncio.Task[None]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


def _start_task(stack: contextlib.AsyncExitStack, work: Awaitable[None], name: str) -> None:
    task = asyncio.ensure_future(work)
    task.set_name(name)
    stack.push_async_callback(_cancel_and_wait, task)


async def serve(
    config: IpamConfig,
    stop: asyncio.Event,
    on_serving: Callable[[str], Awaitable[None]] | None = None,
) -> None:
    """Runs ipamd until stop is set. Raises ConfigError (incl. ConfigMismatch) when the
    configuration cannot work. Each start step registers its undo as soon as it succeeded,
    so a failure at any step, like the stop at the end, undoes the earlier ones in
    reverse: gRPC first (no new calls, open streams ended), then the batcher and the
    background tasks that use etcd, then the etcd connection, and HTTP last, so /healthz
    and /metrics answer until the very end."""
    async with contextlib.AsyncExitStack() as stack:
        await _start_and_serve(config, stop, on_serving, stack)


async def _start_and_serve(
    config: IpamConfig,
    stop: asyncio.Event,
    on_serving: Callable[[str], Awaitable[None]] | None,
    stack: contextlib.AsyncExitStack,
) -> None:
    tls_files = watch_server_files(config.server_tls) if config.server_tls else None
    if tls_files is None:
        log_event(
            log,
            "insecure_plaintext",
            logging.WARNING,
            detail="gRPC without TLS: any caller can act as any node",
        )
    metrics = IpamdMetrics()
    readiness = Readiness()
    http, http_address = await start_http(
        build_app(metrics.registry, readiness), config.http_host, config.http_port
    )
    stack.push_async_callback(http.cleanup)

    connection = EtcdConnection(
        config.etcd_endpoints,
        config.etcd_timeout,
        tls=config.etcd_tls,
        on_failure=lambda method: metrics.etcd_failures.labels(method).inc(),
    )
    stack.push_async_callback(connection.close)
    keys = KeyLayout(config.etcd_prefix)
    store = EtcdStore(connection, keys)
    if not await _until_stopped(bootstrap_cluster_config(store, config), stop):
        return

    readiness.phase = "loading indexes"
    health_servicer = health_aio.HealthServicer()
    for service in ("", IPAM_SERVICE):
        await health_servicer.set(service, health_pb2.HealthCheckResponse.NOT_SERVING)
    store_health = StoreHealth(
        ["claims", "holders", "addresses"], HealthPublisher(health_servicer, readiness).publish
    )
    claims = ClaimIndex(keys, config.cluster)
    holders = RangeHolders(keys)
    addresses = AddressIndex(keys)
    metrics.count_from(addresses.used_count, claims.claimed_count)
    cluster = config.cluster
    metrics.node_ranges_capacity.set(
        2 ** (cluster.node_prefix_length - cluster.cluster_cidr.prefixlen)
    )
    mirrors = [
        PrefixMirror("claims", store, keys.claims, claims.reset, claims.apply, store_health.report),
        PrefixMirror(
            "holders", store, keys.claims, holders.reset, holders.apply, store_health.report
        ),
        PrefixMirror(
            "addresses", store, keys.ips, addresses.reset, addresses.apply, store_health.report
        ),
    ]
    for mirror in mirrors:
        _start_task(stack, mirror.run(), f"mirror-{mirror.name}")
    for mirror in mirrors:
        if not await _until_stopped(mirror.loaded.wait(), stop):
            return
    compactor = compactor_for(connection, config, keys, [m.needed_revision for m in mirrors])
    if compactor is not None:
        stack.push_async_callback(compactor.release)
        _start_task(stack, compactor.run(), "compactor")
    reclaimer = Reclaimer(store, config.quarantine_seconds, config.reconcile_interval)
    await reclaimer.restore_unwatched_lapses(config.node_lease_ttl)
    _start_task(stack, reclaimer.run(), "reclaimer")

    reserver = ReservationBatcher(store, max_waiting=config.limits.queued_reservations)
    stack.push_async_callback(reserver.close)
    allocator = Allocator(store, config.cluster, config.node_lease_ttl, claims, addresses, reserver)
    ipam_servicer = IpamServicer(
        allocator,
        store,
        str(config.cluster.cluster_cidr),
        config.node_lease_ttl,
        metrics,
        replica=ReplicaStatus(store_health, connection),
    )
    guard = CallGuard(
        config.server_tls.trust_domain if config.server_tls else None,
        config.limits,
        holders,
        GuardMetrics(metrics.registry),
    )
    # No port sharing: a second ipamd on the same address must fail, not split the calls.
    server = grpc.aio.server(
        interceptors=[guard],
        options=[*config.limits.server_options(), ("grpc.so_reuseport", 0)],
    )
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

    async def stop_grpc() -> None:
        # Health first, so balancers move away; then the streams, which never end by
        # themselves; then the unary calls get the grace period to finish.
        readiness.serving = False
        await health_servicer.enter_graceful_shutdown()
        ipam_servicer.end_streams()
        await server.stop(SHUTDOWN_GRACE_SECONDS)

    stack.push_async_callback(stop_grpc)
    readiness.serving = True
    address = f"{host}:{port}"
    log_event(log, "serving", address=address, http_address=http_address, tls=tls_files is not None)
    if on_serving is not None:
        await on_serving(address)

    with reload_on_hangup(tls_files) if tls_files else contextlib.nullcontext():
        await stop.wait()
    log_event(log, "stopping", grace_seconds=SHUTDOWN_GRACE_SECONDS)


async def run_until_signalled(config: IpamConfig) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await serve(config, stop)
