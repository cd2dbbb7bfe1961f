"""Pods' host ports in the node namespace (the portMappings capability), with nft."""

from __future__ import annotations

from collections.abc import Sequence

from netagent.dataplane.config import DEFAULT_CONFIG, DataplaneConfig
from netagent.dataplane.errors import HostPortTaken, NftablesFailed
from netagent.dataplane.host_port_rules import (
    HostPortRule,
    add_script,
    parse_listed_rules,
    remove_script,
    setup_script,
)
from netagent.dataplane.nft import list_json, run_nft


async def ensure_host_port_table(config: DataplaneConfig = DEFAULT_CONFIG) -> None:
    """Idempotent; keeps the mappings of pods that already run."""
    await run_nft(setup_script(config.host_port_table), config)


# nft exits 1 whatever went wrong and says why only in prose, so after a failed change
# the maps themselves tell whether it failed on a port that is held (or already gone).


async def add_host_ports(
    rules: Sequence[HostPortRule], config: DataplaneConfig = DEFAULT_CONFIG
) -> None:
    """Adds every rule or none; HostPortTaken when a mapping already holds one's port."""
    if not rules:
        return
    try:
        await run_nft(add_script(config.host_port_table, rules), config)
    except NftablesFailed as error:
        try:
            held = {(r.map_name, r.key): r for r in await list_host_ports(config)}
        except NftablesFailed:
            raise error from None
        taken = [
            f"{rule.key} -> {held[rule.map_name, rule.key].pod_ip}"
            for rule in rules
            if (rule.map_name, rule.key) in held
        ]
        if taken:
            raise HostPortTaken(taken) from None
        raise


async def remove_host_ports(
    rules: Sequence[HostPortRule], config: DataplaneConfig = DEFAULT_CONFIG
) -> None:
    """Removes rules; ones already gone are fine (removal is repeatable)."""
    if not rules:
        return
    try:
        await run_nft(remove_script(config.host_port_table, rules), config)
    except NftablesFailed:
        present = set(await list_host_ports(config))
        still_there = [rule for rule in rules if rule in present]
        if len(still_there) == len(rules):
            raise
        if still_there:
            await run_nft(remove_script(config.host_port_table, still_there), config)


async def list_host_ports(config: DataplaneConfig = DEFAULT_CONFIG) -> list[HostPortRule]:
    return parse_listed_rules(await list_json(["table", "ip", config.host_port_table], config))
