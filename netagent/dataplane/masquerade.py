"""Masquerade for traffic leaving the cluster: one nftables table, replaced atomically."""

from __future__ import annotations

import asyncio
import logging
from ipaddress import IPv4Network

from netagent.dataplane.config import DEFAULT_CONFIG, DataplaneConfig
from netagent.dataplane.errors import DataplaneError, DataplaneTimeout, NftablesFailed
from netagent.dataplane.masquerade_rules import masquerade_script, removal_script

log = logging.getLogger(__name__)


async def run_nft(script: str, config: DataplaneConfig) -> None:
    """Feeds script to `nft -f -` in the caller's (the node's) namespace."""
    try:
        process = await asyncio.create_subprocess_exec(
            config.nft_binary,
            "-f",
            "-",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
    except OSError as error:
        raise DataplaneError(f"cannot run {config.nft_binary}: {error}") from None
    try:
        async with asyncio.timeout(config.nft_timeout):
            _, stderr = await process.communicate(script.encode())
    except TimeoutError:
        process.kill()
        await process.wait()
        raise DataplaneTimeout(f"nft took longer than {config.nft_timeout}s") from None
    if process.returncode != 0:
        raise NftablesFailed(process.returncode or -1, stderr.decode(errors="replace"))


async def apply_masquerade(
    cluster_cidr: IPv4Network,
    pod_range: IPv4Network | None,
    enabled: bool = True,
    config: DataplaneConfig = DEFAULT_CONFIG,
) -> None:
    """Installs (or, when not enabled, removes) podnet's masquerade table."""
    if not enabled:
        await remove_masquerade(config)
        return
    await run_nft(masquerade_script(config.nft_table, cluster_cidr, pod_range), config)
    log.info(
        "masquerade applied",
        extra={
            "table": config.nft_table,
            "cluster_cidr": str(cluster_cidr),
            "pod_range": str(pod_range) if pod_range else None,
        },
    )


async def remove_masquerade(config: DataplaneConfig = DEFAULT_CONFIG) -> None:
    await run_nft(removal_script(config.nft_table), config)
    log.info("masquerade removed", extra={"table": config.nft_table})
