"""`podnetctl ipam release --ip A`: gives an address back to ipamd, as the admin identity.

Refused while the agent of the address's node reports it attached (or cannot say), unless
--force: releasing an address a pod still uses lets ipamd give it to a second pod.
"""

from __future__ import annotations

import ipaddress
import sys

from podnetctl.cluster.clients import Cluster
from podnetctl.cluster.model import Allocation, AttachedInterface, NodeView
from podnetctl.cluster.output import print_json
from podnetctl.errors import CommandError


def parse_address(text: str) -> str:
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        raise CommandError(f"--ip: {text!r} is not an IP address") from None


def _node_of(nodes: list[NodeView], address: str) -> NodeView:
    ip = ipaddress.ip_address(address)
    for node in nodes:
        if ip in ipaddress.ip_network(node.cidr):
            return node
    raise CommandError(f"{address} is in no node's range: ipamd has not allocated it")


def _attached_uses(attached: list[AttachedInterface], address: str) -> list[AttachedInterface]:
    return [interface for interface in attached if address in interface.addresses]


async def _refusal(cluster: Cluster, allocation: Allocation) -> str | None:
    """Why releasing would be unsafe now, or None."""
    try:
        attached = await cluster.attachments(allocation.node)
    except CommandError as error:
        return f"cannot tell whether {allocation.address} is attached ({error})"
    users = _attached_uses(attached, allocation.address)
    if not users:
        return None
    where = ", ".join(f"{u.host_veth} of {u.container_id or '?'}/{u.ifname or '?'}" for u in users)
    return f"{allocation.address} is attached on node {allocation.node} ({where})"


async def release_ip(cluster: Cluster, address: str, force: bool, as_json: bool) -> int:
    node = _node_of(await cluster.nodes(), address)
    held = [a for a in await cluster.allocations([node.name]) if a.address == address]
    if not held:
        raise CommandError(f"{address} is not allocated (node {node.name}, range {node.cidr})")
    allocation = held[0]
    refusal = await _refusal(cluster, allocation)
    if refusal is not None and not force:
        raise CommandError(
            f"{refusal}: releasing it would let ipamd give it to a second pod; "
            "--force releases it anyway"
        )
    if refusal is not None:
        sys.stderr.write(f"podnetctl: warning: {refusal}; releasing it anyway (--force)\n")
    reply = await cluster.release(allocation)
    if not reply.released or reply.address != address:
        raise CommandError(
            f"nothing released: {allocation.container_id}/{allocation.ifname} on node "
            f"{allocation.node} no longer holds {address}"
        )
    if as_json:
        print_json(
            {
                "released": address,
                "node": allocation.node,
                "container_id": allocation.container_id,
                "ifname": allocation.ifname,
                "pod": allocation.pod,
                "forced": refusal is not None,
            }
        )
    else:
        pod = f"pod {allocation.pod}, " if allocation.pod else ""
        print(
            f"released {address} ({pod}container {allocation.container_id}/"
            f"{allocation.ifname}, node {allocation.node})"
        )
    return 0
