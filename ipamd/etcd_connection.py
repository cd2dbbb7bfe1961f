"""Raw etcd v3 calls over aetcd's stubs, with a timeout on every call and fail-over across
endpoints in the order given. Knows nothing of ipamd's records."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import grpc
from aetcd import rpc
from podnet.logs import log_event
from podnet.tls.errors import TlsError
from podnet.tls.files import TlsFiles
from podnet.tls.grpc_credentials import channel_credentials_from_files

from ipamd.config import EtcdAddress
from ipamd.errors import ConfigError, HistoryCompacted, StoreUnavailable

log = logging.getLogger(__name__)

# etcd refuses client pings more often than every 5 s; this detects a dead
# connection (and so a dead watch) within about 15 s.
_CHANNEL_OPTIONS = {
    "grpc.keepalive_time_ms": 10_000,
    "grpc.keepalive_timeout_ms": 5_000,
    "grpc.keepalive_permit_without_calls": 0,
}
_RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}


def prefix_end(prefix: bytes) -> bytes:
    """The smallest key greater than every key starting with prefix."""
    trimmed = prefix.rstrip(b"\xff")
    return trimmed[:-1] + bytes([trimmed[-1] + 1]) if trimmed else b"\0"


class EtcdChannel:
    """One endpoint's gRPC channel and the etcd stubs on it."""

    def __init__(self, channel: grpc.aio.Channel) -> None:
        self.channel = channel
        self.kvstub = rpc.KVStub(channel)
        self.leasestub = rpc.LeaseStub(channel)
        self.maintenancestub = rpc.MaintenanceStub(channel)

    async def close(self) -> None:
        await self.channel.close(None)


def etcd_credentials(tls: TlsFiles) -> grpc.ChannelCredentials:
    """TLS with a client certificate, read once; ConfigError when the files cannot work."""
    try:
        return channel_credentials_from_files(tls)
    except TlsError as error:
        raise ConfigError(f"etcd TLS: {error}") from None


class EtcdConnection:
    def __init__(
        self,
        endpoints: Sequence[EtcdAddress],
        timeout: float,
        *,
        tls: TlsFiles | None,
        on_failure: Callable[[str], None] | None = None,
    ) -> None:
        """tls: the CA that signed etcd's certificates and this client's pair; None for
        plaintext (only behind ipamd's --etcd-insecure-plaintext). on_failure: told the
        etcd method of each call or stream that failed."""
        self._endpoints = tuple(endpoints)
        self._timeout = timeout
        self._on_failure = on_failure
        self._credentials = etcd_credentials(tls) if tls is not None else None
        if tls is None:
            log_event(
                log, "etcd_plaintext", logging.WARNING, risk="its traffic can be read and forged"
            )
        self._clients: dict[EtcdAddress, EtcdChannel] = {}
        self._active = 0
        # Watches open per endpoint, each as the callback that abandons it.
        self._watch_abandoners: dict[EtcdAddress, set[Callable[[], None]]] = {}

    @property
    def active_endpoint(self) -> EtcdAddress:
        return self._endpoints[self._active]

    async def client_for(self, endpoint: EtcdAddress) -> EtcdChannel:
        """The channel to endpoint, made on first use (it connects on the first call)."""
        client = self._clients.get(endpoint)
        if client is None:
            target = f"[{endpoint.host}]:{endpoint.port}" if ":" in endpoint.host else str(endpoint)
            options = list(_CHANNEL_OPTIONS.items())
            if self._credentials is None:
                channel = grpc.aio.insecure_channel(target, options=options)
            else:
                channel = grpc.aio.secure_channel(target, self._credentials, options=options)
            client = EtcdChannel(channel)
            self._clients[endpoint] = client
        return client

    def _fail_over(self, endpoint: EtcdAddress) -> None:
        if self.active_endpoint == endpoint and len(self._endpoints) > 1:
            self._active = (self._active + 1) % len(self._endpoints)
            log_event(
                log,
                "etcd_endpoint_failed",
                logging.WARNING,
                failed=str(endpoint),
                next=str(self.active_endpoint),
            )
            # A member that hangs rather than dies keeps its watch streams open and
            # silent; they would deliver nothing until keepalive gives up on it.
            for abandon in self._watch_abandoners.pop(endpoint, set()):
                abandon()

    def _count_failure(self, method: str) -> None:
        if self._on_failure is not None:
            self._on_failure(method)

    def _stream_failed(
        self, endpoint: EtcdAddress, method: str, what: str, error: grpc.aio.AioRpcError
    ) -> StoreUnavailable:
        """The error for a broken stream call; streams are not retried here, but the
        next call goes to another endpoint if this one looks unreachable."""
        self._count_failure(method)
        if error.code() in _RETRYABLE:
            self._fail_over(endpoint)
        return StoreUnavailable(f"etcd {what}: {error.code().name}: {error.details()}")

    async def _unary(self, stub_name: str, method: str, request: Any) -> Any:
        """One unary call; on an unreachable endpoint, tries each other endpoint once."""
        last_error: grpc.aio.AioRpcError | None = None
        for _ in self._endpoints:
            endpoint = self.active_endpoint
            client = await self.client_for(endpoint)
            call = getattr(getattr(client, stub_name), method)
            try:
                return await call(request, timeout=self._timeout)
            except grpc.aio.AioRpcError as error:
                last_error = error
                self._count_failure(method)
                if error.code() not in _RETRYABLE:
                    break
                self._fail_over(endpoint)
        assert last_error is not None
        raise StoreUnavailable(
            f"etcd {method} failed: {last_error.code().name}: {last_error.details()}"
        ) from last_error

    async def range(
        self, key: bytes, range_end: bytes = b"", limit: int = 0, revision: int = 0
    ) -> Any:
        request = rpc.RangeRequest(key=key, range_end=range_end, limit=limit, revision=revision)
        return await self._unary("kvstub", "Range", request)

    async def range_prefix(self, prefix: bytes, page_size: int = 1000) -> tuple[list[Any], int]:
        """Every key-value under prefix, read in pages at one revision. Returns (kvs, revision)."""
        end = prefix_end(prefix)
        first = await self.range(prefix, end, limit=page_size)
        revision: int = first.header.revision
        kvs = list(first.kvs)
        more = first.more
        while more:
            start = kvs[-1].key + b"\0"
            page = await self.range(start, end, limit=page_size, revision=revision)
            kvs.extend(page.kvs)
            more = page.more
        return kvs, revision

    async def txn(
        self, compare: Sequence[Any], success: Sequence[Any], failure: Sequence[Any] = ()
    ) -> Any:
        request = rpc.TxnRequest(compare=compare, success=success, failure=failure)
        return await self._unary("kvstub", "Txn", request)

    async def compact(self, revision: int) -> bool:
        """Discards the history before revision (every key keeps its value at revision).
        False when etcd has compacted at or past revision already."""
        try:
            await self._unary("kvstub", "Compact", rpc.CompactionRequest(revision=revision))
        except StoreUnavailable as error:
            cause = error.__cause__
            if (
                isinstance(cause, grpc.aio.AioRpcError)
                and cause.code() == grpc.StatusCode.OUT_OF_RANGE
                and "compacted" in (cause.details() or "")
            ):
                return False
            raise
        return True

    async def grant_lease(self, ttl: int) -> int:
        reply = await self._unary("leasestub", "LeaseGrant", rpc.LeaseGrantRequest(TTL=ttl))
        lease_id: int = reply.ID
        return lease_id

    async def revoke_lease(self, lease_id: int) -> None:
        await self._unary("leasestub", "LeaseRevoke", rpc.LeaseRevokeRequest(ID=lease_id))

    async def lease_time_to_live(self, lease_id: int) -> tuple[int, int]:
        """(granted TTL, seconds left) of a lease; seconds left is -1 once it expired."""
        reply = await self._unary(
            "leasestub", "LeaseTimeToLive", rpc.LeaseTimeToLiveRequest(ID=lease_id)
        )
        return int(reply.grantedTTL), int(reply.TTL)

    async def keep_alive_once(self, lease_id: int) -> int:
        """Refreshes a lease once; returns its new TTL, 0 or less when the lease is gone."""
        endpoint = self.active_endpoint
        client = await self.client_for(endpoint)
        try:
            call = client.leasestub.LeaseKeepAlive(
                iter([rpc.LeaseKeepAliveRequest(ID=lease_id)]), timeout=self._timeout
            )
            async for reply in call:
                ttl: int = reply.TTL
                return ttl
        except grpc.aio.AioRpcError as error:
            raise self._stream_failed(
                endpoint, "LeaseKeepAlive", "LeaseKeepAlive failed", error
            ) from error
        raise StoreUnavailable("etcd LeaseKeepAlive ended without a reply")

    async def watch(
        self, key: bytes, range_end: bytes, start_revision: int, prev_kv: bool
    ) -> AsyncIterator[Any]:
        """Yields the creation response, then those carrying events. Raises
        HistoryCompacted when etcd cannot start at start_revision, StoreUnavailable when
        the stream breaks."""
        endpoint = self.active_endpoint
        client = await self.client_for(endpoint)
        if endpoint != self.active_endpoint:  # failed over while connecting
            raise StoreUnavailable(f"etcd endpoint {endpoint} failed as the watch opened")
        create = rpc.WatchRequest(
            create_request=rpc.WatchCreateRequest(
                key=key, range_end=range_end, start_revision=start_revision, prev_kv=prev_kv
            )
        )
        closed = asyncio.Event()

        async def requests() -> AsyncIterator[Any]:
            yield create
            await closed.wait()

        call = rpc.WatchStub(client.channel).Watch(requests())
        abandoned = False

        def abandon() -> None:
            nonlocal abandoned
            abandoned = True
            call.cancel()

        abandoners = self._watch_abandoners.setdefault(endpoint, set())
        abandoners.add(abandon)
        try:
            async for response in call:
                if response.compact_revision:
                    raise HistoryCompacted(response.compact_revision)
                if response.canceled:
                    raise StoreUnavailable(f"etcd cancelled the watch: {response.cancel_reason}")
                if response.created or response.events:
                    yield response
        except grpc.aio.AioRpcError as error:
            raise self._stream_failed(endpoint, "Watch", "watch broke", error) from error
        except asyncio.CancelledError:
            if not abandoned:
                raise
            raise StoreUnavailable(f"etcd watch abandoned: endpoint {endpoint} failed") from None
        finally:
            abandoners.discard(abandon)
            closed.set()
            call.cancel()
        raise StoreUnavailable("etcd closed the watch stream")

    async def close(self) -> None:
        clients, self._clients = self._clients, {}
        for client in clients.values():
            await client.close()
