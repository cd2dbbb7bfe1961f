"""Which host ports each attachment holds, kept in step with the node's nft maps.

The kernel is the source of truth: the index is rebuilt from it on start (and
mappings whose pod has no allocation any more are removed), so DEL can remove
a pod's ports by attachment even without a prevResult or the pod's netns.
"""

from __future__ import annotations

import ipaddress
import logging
from collections.abc import Mapping, Sequence

from podnet.logs import log_event

from netagent.cni.port_mappings import PortMapping
from netagent.dataplane.host_port_rules import HostPortRule
from netagent.errors import CheckMismatch
from netagent.seams import HostPortTable

logger = logging.getLogger("podnet.agent.hostports")

AttachmentKey = tuple[str, str]  # (container id, ifname)


def rules_for(pod_ip: ipaddress.IPv4Address, mappings: Sequence[PortMapping]) -> list[HostPortRule]:
    return sorted(
        HostPortRule(m.protocol, m.host_port, pod_ip, m.container_port, m.host_ip) for m in mappings
    )


class HostPortKeeper:
    def __init__(self, table: HostPortTable) -> None:
        self._table = table
        self._by_attachment: dict[AttachmentKey, list[HostPortRule]] = {}

    async def load(self, owners: Mapping[ipaddress.IPv4Address, AttachmentKey]) -> None:
        """Sets up the table and rebuilds the index; drops mappings of unknown pods."""
        await self._table.ensure_host_port_table()
        self._by_attachment.clear()
        orphans: list[HostPortRule] = []
        for rule in await self._table.list_host_ports():
            owner = owners.get(rule.pod_ip)
            if owner is None:
                orphans.append(rule)
            else:
                self._by_attachment.setdefault(owner, []).append(rule)
        if orphans:
            await self._table.remove_host_ports(orphans)
            log_event(logger, "host_ports_orphans_removed", count=len(orphans))

    async def add(
        self, key: AttachmentKey, pod_ip: ipaddress.IPv4Address, mappings: Sequence[PortMapping]
    ) -> None:
        rules = rules_for(pod_ip, mappings)
        if rules:
            await self._table.add_host_ports(rules)
            self._by_attachment[key] = rules

    async def remove(self, key: AttachmentKey) -> None:
        rules = self._by_attachment.get(key)
        if rules:
            await self._table.remove_host_ports(rules)
            del self._by_attachment[key]

    async def verify(
        self, key: AttachmentKey, pod_ip: ipaddress.IPv4Address, mappings: Sequence[PortMapping]
    ) -> None:
        expected = rules_for(pod_ip, mappings)
        present = set(await self._table.list_host_ports())
        missing = [rule.element for rule in expected if rule not in present]
        if missing or self._by_attachment.get(key, []) != expected:
            raise CheckMismatch(
                f"host ports differ from runtimeConfig.portMappings; missing: {missing}"
            )
