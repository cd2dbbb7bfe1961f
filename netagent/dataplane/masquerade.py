"""Masquerade for traffic leaving the cluster: one nftables table, replaced atomically."""

from __future__ import annotations

import logging
from ipaddress import IPv4Network

from podnet.logs import log_event

from netagent.dataplane.config import DEFAULT_CONFIG, DataplaneConfig
from netagent.dataplane.masquerade_rules import masquerade_script, removal_script
from netagent.dataplane.nft import run_nft

log = logging.getLogger(__name__)


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
    log_event(
        log,
        "masquerade_applied",
        table=config.nft_table,
        cluster_cidr=str(cluster_cidr),
        pod_range=str(pod_range) if pod_range else None,
    )


async def remove_masquerade(config: DataplaneConfig = DEFAULT_CONFIG) -> None:
    await run_nft(removal_script(config.nft_table), config)
    log_event(log, "masquerade_removed", table=config.nft_table)
