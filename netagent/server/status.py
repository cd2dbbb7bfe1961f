"""GET /status: the agent's state as JSON, for operators and the lab (never parse logs)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass

from aiohttp import web


@dataclass(frozen=True)
class PeerRange:
    node: str
    cidr: str
    node_ip: str


@dataclass(frozen=True)
class AgentStatus:
    node: str
    range: str | None  # the pod CIDR held, None while fenced for want of one
    fenced: bool  # ADD refused right now
    fenced_reason: str | None
    ipamd_stream_connected: bool
    peer_ranges: tuple[PeerRange, ...]
    attachments: int  # pods wired on this node (their host veths)
    spool_length: int  # DELs recorded for replay


StatusSource = Callable[[], Awaitable[AgentStatus]]


def add_status_route(app: web.Application, source: StatusSource) -> None:
    async def status(_: web.Request) -> web.Response:
        return web.json_response(asdict(await source()))

    app.router.add_get("/status", status)
