"""ipamd's HTTP endpoint (aiohttp): /healthz, /readyz and Prometheus /metrics."""

from __future__ import annotations

import os
from dataclasses import dataclass

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from ipamd.errors import ConfigError


@dataclass
class Readiness:
    """Ready while etcd is connected, the indexes are loaded and watched, and gRPC serves."""

    phase: str = "connecting to etcd"
    store_up: bool = False
    serving: bool = False

    def probe(self) -> tuple[bool, str]:
        if not self.serving:
            return False, self.phase
        if not self.store_up:
            return False, "etcd unreachable: index watches down"
        return True, "ready"


def build_app(registry: CollectorRegistry, readiness: Readiness) -> web.Application:
    async def healthz(_: web.Request) -> web.Response:
        return web.Response(text="ok\n")

    async def readyz(_: web.Request) -> web.Response:
        ready, reason = readiness.probe()
        return web.Response(status=200 if ready else 503, text=f"{reason}\n")

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(registry), headers={"Content-Type": CONTENT_TYPE_LATEST}
        )

    app = web.Application()
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    return app


async def start_http(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, str]:
    """Serves app on host:port (0: any free port); returns the runner and HOST:PORT.
    Raises ConfigError, with nothing left listening, when the address cannot be bound."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except OSError as error:
        await runner.cleanup()
        reason = os.strerror(error.errno) if error.errno else str(error)
        raise ConfigError(f"cannot serve HTTP on {host}:{port}: {reason}") from None
    bound_port = runner.addresses[0][1]  # the one picked, for port 0
    return runner, f"{host}:{bound_port}"
