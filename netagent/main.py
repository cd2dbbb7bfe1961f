"""`podnet-agent`: the per-node daemon."""

from __future__ import annotations

import os

# Set before grpc is imported: pyroute2 must never fork helpers inside grpc.aio.
os.environ.setdefault("GRPC_ENABLE_FORK_SUPPORT", "false")
# gRPC core's own plain-text stderr lines would break the JSON-lines log; what it reports
# reaches us as exceptions, logged in the schema. GRPC_VERBOSITY=debug brings them back.
os.environ.setdefault("GRPC_VERBOSITY", "NONE")

import asyncio
import signal
from collections.abc import Sequence

from podnet.cli import exit_with_error
from podnet.logs import configure_logging

from netagent.config import AgentConfig, parse_config
from netagent.errors import AgentStartError, ConfigError


def main(argv: Sequence[str] | None = None) -> None:
    try:
        config = parse_config(argv)
    except ConfigError as error:
        exit_with_error("podnet-agent", error)
    configure_logging(config.log_level)
    try:
        asyncio.run(_serve(config))
    except AgentStartError as error:
        exit_with_error("podnet-agent", error, status=1)
    except ConfigError as error:  # found once running: TLS files, the admin listener
        exit_with_error("podnet-agent", error)


async def _serve(config: AgentConfig) -> None:
    # Imported once the flags are good, so a bad flag is answered without loading
    # grpc, aiohttp and pyroute2 first.
    from netagent import dataplane
    from netagent.agent import Agent
    from netagent.ipam_client import IpamClient
    from netagent.ipamd_channel import warn_plaintext, watch_node_files

    if config.ipamd_tls is None:
        warn_plaintext()
    tls = watch_node_files(config.ipamd_tls, config.node_name) if config.ipamd_tls else None
    try:
        config.spool_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as error:
        raise AgentStartError(f"cannot create --spool-dir {config.spool_dir}: {error}") from None
    mtu = config.mtu or dataplane.default_route_mtu()
    ipam = IpamClient(config.ipamd_address, config.ipamd_timeout, tls)
    agent = Agent.from_config(config, mtu, ipam)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, agent.stop)
    loop.add_signal_handler(signal.SIGHUP, ipam.channel.reload)
    renewals = asyncio.create_task(ipam.channel.follow_renewals(), name="tls-renewals")
    try:
        await agent.run()
    finally:
        renewals.cancel()


if __name__ == "__main__":
    main()
