"""The gate in front of every podnet.v1.Ipam call: who is calling (the verified client
certificate), may they (ipamd.authorization), and within which limits (ipamd.limits).

A gRPC server interceptor rather than a line in each servicer method: a method added
later is guarded (and, until the policy knows it, refused) without anyone remembering to.
Health and reflection pass: the TLS handshake already admitted only certificates of the
cluster CA, and they change nothing.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any

import grpc
from podnet.logs import log_event
from podnet.tls.errors import InvalidIdentity
from podnet.tls.identity import SpiffeId
from podnet.tls.peer import peer_identity
from podnet.v1 import ipam_pb2

from ipamd.authorization import ALLOCATE, CallFacts, Reason, authorize
from ipamd.guard_metrics import GuardMetrics
from ipamd.limits import (
    CALLS_PER_IDENTITY,
    LIMIT_TRAILER,
    STREAMS_PER_IDENTITY,
    IdentitySlots,
    LimitExceeded,
    Limits,
)
from ipamd.range_holders import RangeHolders

logger = logging.getLogger(__name__)

IPAM_SERVICE_PREFIX = "/" + ipam_pb2.DESCRIPTOR.services_by_name["Ipam"].full_name + "/"

Context = grpc.aio.ServicerContext[Any, Any]
if TYPE_CHECKING:
    Handler = grpc.RpcMethodHandler[Any, Any]
    Interceptor = grpc.aio.ServerInterceptor[Any, Any]
else:  # not generic at run time
    Interceptor = grpc.aio.ServerInterceptor


class CallGuard(Interceptor):
    def __init__(
        self,
        trust_domain: str | None,
        limits: Limits,
        holders: RangeHolders | None,
        metrics: GuardMetrics,
    ) -> None:
        """trust_domain None: plaintext, no identities; calls are then neither authorized
        nor attributed to anyone but the peer's address (which limits are counted by)."""
        self._trust_domain = trust_domain
        self._limits = limits
        self._holders = holders
        self._metrics = metrics
        self._calls = IdentitySlots(limits.calls_per_identity)
        self._streams = IdentitySlots(limits.streams_per_identity)
        self._guarded: dict[str, Handler] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[Handler]],
        details: grpc.HandlerCallDetails,
    ) -> Handler:
        full_method: str = details.method
        guarded = self._guarded.get(full_method)
        if guarded is not None:
            return guarded
        handler = await continuation(details)
        if handler is None or not full_method.startswith(IPAM_SERVICE_PREFIX):
            return handler
        guarded = self._guard(full_method[len(IPAM_SERVICE_PREFIX) :], handler)
        self._guarded[full_method] = guarded
        return guarded

    def _guard(self, method: str, handler: Handler) -> Handler:
        codec = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                self._unary_unary(method, handler.unary_unary), **codec
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                self._unary_stream(method, handler.unary_stream), **codec
            )
        if handler.stream_stream is not None:
            return grpc.stream_stream_rpc_method_handler(
                self._stream_stream(method, handler.stream_stream), **codec
            )
        return grpc.stream_unary_rpc_method_handler(
            self._stream_unary(method, handler.stream_unary), **codec
        )

    # --- the four shapes of call ---------------------------------------------------

    def _unary_unary(self, method: str, inner: Any) -> Any:
        async def guarded(request: Any, context: Context) -> Any:
            caller, key = await self._admit(method, request, context)
            await self._take(self._calls, key, caller, method, context, CALLS_PER_IDENTITY)
            try:
                async with asyncio.timeout(self._limits.call_timeout):
                    return await inner(request, context)
            except TimeoutError:
                await self._refuse_deadline(caller, key, method, context)
            except LimitExceeded as exceeded:
                await self._refuse_limit(caller, key, method, context, exceeded)
            finally:
                self._calls.give_back(key)

        return guarded

    def _unary_stream(self, method: str, inner: Any) -> Any:
        async def guarded(request: Any, context: Context) -> AsyncIterator[Any]:
            caller, key = await self._admit(method, request, context)
            await self._take(self._streams, key, caller, method, context, STREAMS_PER_IDENTITY)
            try:
                replies = inner(request, context)
                if hasattr(replies, "__aiter__"):
                    async for reply in replies:
                        yield reply
                else:  # a servicer writing with context.write()
                    await replies
            finally:
                self._streams.give_back(key)

        return guarded

    def _checked_requests(
        self, method: str, requests: AsyncIterator[Any], caller: SpiffeId | None, context: Context
    ) -> AsyncIterator[Any]:
        """The client's messages, each authorized before the servicer sees it."""

        async def checked() -> AsyncIterator[Any]:
            async for request in requests:
                if caller is not None:
                    await self._authorize(caller, method, request, context)
                yield request

        return checked()

    def _stream_stream(self, method: str, inner: Any) -> Any:
        async def guarded(requests: AsyncIterator[Any], context: Context) -> AsyncIterator[Any]:
            caller, key = await self._admit(method, None, context)
            await self._take(self._streams, key, caller, method, context, STREAMS_PER_IDENTITY)
            try:
                replies = inner(self._checked_requests(method, requests, caller, context), context)
                if hasattr(replies, "__aiter__"):
                    async for reply in replies:
                        yield reply
                else:
                    await replies
            finally:
                self._streams.give_back(key)

        return guarded

    def _stream_unary(self, method: str, inner: Any) -> Any:
        async def guarded(requests: AsyncIterator[Any], context: Context) -> Any:
            caller, key = await self._admit(method, None, context)
            await self._take(self._streams, key, caller, method, context, STREAMS_PER_IDENTITY)
            try:
                checked = self._checked_requests(method, requests, caller, context)
                return await inner(checked, context)
            finally:
                self._streams.give_back(key)

        return guarded

    # --- identity, authorization, limits -------------------------------------------

    async def _admit(
        self, method: str, request: Any, context: Context
    ) -> tuple[SpiffeId | None, str]:
        """The caller and the key its limits are counted under; aborts the call when the
        caller has no usable identity or may not make it (request None: checked per
        message later)."""
        if self._trust_domain is None:
            return None, _peer_host(context.peer())
        try:
            caller = peer_identity(context, self._trust_domain)
        except InvalidIdentity as error:
            self._log_denial(None, method, Reason.INVALID_IDENTITY, str(error), context)
            await context.abort(grpc.StatusCode.UNAUTHENTICATED, str(error))
            raise AssertionError("unreachable") from None  # abort raises
        if request is not None:
            await self._authorize(caller, method, request, context)
        return caller, str(caller)

    async def _authorize(
        self, caller: SpiffeId, method: str, request: Any, context: Context
    ) -> None:
        node: str = getattr(request, "node", "")
        cidr: str = getattr(request, "cidr", "")
        holder = (
            self._holders.holder_of(cidr)
            if self._holders is not None and cidr and method == ALLOCATE
            else None
        )
        decision = authorize(caller, CallFacts(method, node, cidr, holder))
        if decision.allowed:
            return
        assert decision.reason is not None
        self._log_denial(caller, method, decision.reason, decision.message, context, node=node)
        await context.abort(grpc.StatusCode.PERMISSION_DENIED, decision.message)

    def _log_denial(
        self,
        caller: SpiffeId | None,
        method: str,
        reason: Reason,
        message: str,
        context: Context,
        **fields: Any,
    ) -> None:
        self._metrics.denied.labels(method, reason.value).inc()
        log_event(
            logger,
            "request_denied",
            logging.WARNING,
            peer_identity=str(caller) if caller else None,
            peer=context.peer(),
            method=method,
            reason=reason.value,
            detail=message,
            **fields,
        )

    async def _take(
        self,
        slots: IdentitySlots,
        key: str,
        caller: SpiffeId | None,
        method: str,
        context: Context,
        limit: str,
    ) -> None:
        if slots.try_take(key):
            return
        exceeded = LimitExceeded(
            limit, f"{key} already has {slots.limit} {limit.split('_')[0]} in flight; retry later"
        )
        await self._refuse_limit(caller, key, method, context, exceeded)

    async def _refuse_limit(
        self,
        caller: SpiffeId | None,
        key: str,
        method: str,
        context: Context,
        exceeded: LimitExceeded,
    ) -> None:
        self._metrics.limited.labels(method, exceeded.limit).inc()
        log_event(
            logger,
            "request_limited",
            logging.WARNING,
            peer_identity=key if caller else None,
            peer=context.peer(),
            method=method,
            limit=exceeded.limit,
            detail=str(exceeded),
        )
        await context.abort(
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            str(exceeded),
            trailing_metadata=((LIMIT_TRAILER, exceeded.limit),),
        )

    async def _refuse_deadline(
        self, caller: SpiffeId | None, key: str, method: str, context: Context
    ) -> None:
        limit = "call_timeout"
        self._metrics.limited.labels(method, limit).inc()
        message = f"{method} took longer than ipamd's {self._limits.call_timeout:g}s limit"
        log_event(
            logger,
            "request_limited",
            logging.WARNING,
            peer_identity=key if caller else None,
            method=method,
            limit=limit,
            detail=message,
        )
        await context.abort(grpc.StatusCode.DEADLINE_EXCEEDED, message)


def _peer_host(peer: str) -> str:
    """'ipv4:127.0.0.1:50123' -> 'ipv4:127.0.0.1' (one key per client host)."""
    return peer.rsplit(":", 1)[0]
