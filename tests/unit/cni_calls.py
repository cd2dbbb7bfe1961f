"""CNI invocations as the shim forwards them, and their outcomes as the runtime reads them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from podnet.v1 import cni_pb2

from netagent.verbs.invocation import InvocationHandler

POD_ARGS = "K8S_POD_NAMESPACE=default;K8S_POD_NAME=web;K8S_POD_UID=uid-1"


def invocation(
    command: str,
    container_id: str = "",
    netns: str = "",
    ifname: str = "eth0",
    config: Mapping[str, Any] | None = None,
) -> cni_pb2.CniInvocation:
    """config: network configuration keys besides cniVersion, name and type."""
    document = {"cniVersion": "1.1.0", "name": "podnet", "type": "podnet", **(config or {})}
    return cni_pb2.CniInvocation(
        command=command,
        container_id=container_id,
        netns=netns,
        ifname=ifname if command in ("ADD", "DEL", "CHECK") else "",
        args=POD_ARGS if command in ("ADD", "DEL", "CHECK") else "",
        path="/opt/cni/bin",
        config=json.dumps(document).encode(),
    )


def host_port(host: int, container: int = 80, protocol: str = "tcp") -> dict[str, Any]:
    return {"hostPort": host, "containerPort": container, "protocol": protocol}


@dataclass(frozen=True)
class Outcome:
    exit_code: int
    document: dict[str, Any]

    @property
    def code(self) -> int:
        """The CNI error code; 0 on success."""
        return int(self.document.get("code", 0)) if self.exit_code else 0


async def call(handler: InvocationHandler, request: cni_pb2.CniInvocation) -> Outcome:
    outcome = await handler(request)
    return Outcome(outcome.exit_code, json.loads(outcome.stdout) if outcome.stdout else {})
