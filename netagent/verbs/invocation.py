"""One CNI invocation from the shim: parse, dispatch to a verb, encode the outcome."""

from __future__ import annotations

import json
import logging
import time

from podnet.logs import log_event, monotonic_ms, request_context
from podnet.v1 import cni_pb2

from netagent.cni.errors import CniError, ErrorCode
from netagent.cni.request import CniRequest, parse_request
from netagent.cni.result import encode_error, encode_result
from netagent.dataplane.caller_view import CallerRoot
from netagent.metrics import AgentMetrics
from netagent.verbs.error_mapping import to_cni_error
from netagent.verbs.service import CniService

logger = logging.getLogger("podnet.agent.invocation")


def _requested_version(raw_config: bytes) -> str:
    try:
        version = json.loads(raw_config).get("cniVersion")
    except (ValueError, AttributeError):
        return "1.1.0"
    return version if isinstance(version, str) and version else "1.1.0"


class InvocationHandler:
    def __init__(self, service: CniService, metrics: AgentMetrics) -> None:
        self._service = service
        self._metrics = metrics

    async def __call__(
        self, invocation: cni_pb2.CniInvocation, caller_root: CallerRoot | None = None
    ) -> cni_pb2.CniOutcome:
        """caller_root: where CNI_NETNS is resolved (None: in the agent's own view, as
        for replayed DELs, whose caller is long gone)."""
        started = time.monotonic()
        command = invocation.command
        with request_context(
            command=command,
            container_id=invocation.container_id,
            netns=invocation.netns,
            ifname=invocation.ifname,
        ):
            code = 0
            try:
                request = parse_request(
                    command=command,
                    container_id=invocation.container_id,
                    netns=invocation.netns,
                    ifname=invocation.ifname,
                    args=invocation.args,
                    path=invocation.path,
                    config=invocation.config,
                    replayed=invocation.replayed,
                )
                with request_context(pod=f"{request.pod.namespace}/{request.pod.name}"):
                    stdout = await self._dispatch(request, caller_root)
            except Exception as error:
                cni_error = to_cni_error(error, command)
                code = cni_error.code
                level = logging.WARNING if isinstance(error, CniError) else logging.ERROR
                log_event(
                    logger,
                    "cni_error",
                    level,
                    code=code,
                    reason=cni_error.msg,
                    details=cni_error.details,
                    ms=monotonic_ms(started),
                    error=None if isinstance(error, CniError) else error,
                )
                stdout = encode_error(_requested_version(invocation.config), cni_error)
            else:
                log_event(
                    logger, "cni_done", ms=monotonic_ms(started), replayed=invocation.replayed
                )
            self._metrics.cni_latency.labels(command or "?", str(code)).observe(
                time.monotonic() - started
            )
            return cni_pb2.CniOutcome(exit_code=1 if code else 0, stdout=stdout)

    async def _dispatch(self, request: CniRequest, caller_root: CallerRoot | None) -> bytes:
        if request.command == "ADD":
            added = await self._service.add(request, caller_root)
            return encode_result(request.config.cni_version, added)
        if request.command == "DEL":
            await self._service.delete(request, caller_root)
        elif request.command == "CHECK":
            await self._service.check(request, caller_root)
        elif request.command == "GC":
            await self._service.gc(request)
        elif request.command == "STATUS":
            self._service.status()
        else:
            raise CniError(
                ErrorCode.INVALID_ENVIRONMENT_VARIABLES,
                f"unsupported CNI_COMMAND {request.command!r}",
            )
        return b""
