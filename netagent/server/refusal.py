"""The gRPC server refused callers are relayed to: every call ends in PERMISSION_DENIED.

Answering with a gRPC status (rather than closing the connection) gives the
runtime a readable error: the shim reports it as "podnet agent unreachable"
with `grpc-status b'7': <this message>` in the details.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

import grpc
import grpc.aio
from podnet.logs import log_event

from netagent.server.callers import CallerRegistry

logger = logging.getLogger("podnet.agent.caller_gate")

if TYPE_CHECKING:
    _GenericHandler = grpc.GenericRpcHandler[bytes, bytes]
else:  # generic in the type stubs only
    _GenericHandler = grpc.GenericRpcHandler


class RefuseEveryCall(_GenericHandler):
    def __init__(
        self, registry: CallerRegistry, allowed_uids: frozenset[int], on_refused: Callable[[], None]
    ) -> None:
        self._registry = registry
        self._allowed = ", ".join(str(uid) for uid in sorted(allowed_uids))
        self._on_refused = on_refused

    def service(
        self, handler_call_details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler[bytes, bytes]:
        method = str(getattr(handler_call_details, "method", ""))

        async def refuse(
            requests: AsyncIterator[bytes], context: grpc.aio.ServicerContext[Any, Any]
        ) -> None:
            await self._refuse(method, context)

        return grpc.stream_stream_rpc_method_handler(refuse)

    async def _refuse(self, method: str, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        caller = self._registry.lookup(context.peer())
        pid, uid = (caller.credentials.pid, caller.credentials.uid) if caller else (-1, -1)
        self._on_refused()
        log_event(
            logger, "cni_caller_refused", logging.WARNING, peer_pid=pid, peer_uid=uid, method=method
        )
        await context.abort(
            grpc.StatusCode.PERMISSION_DENIED,
            f"the podnet agent refuses callers with uid {uid} (pid {pid}); "
            f"allowed uids: {self._allowed} (agent flag --cni-allowed-uid)",
        )
