"""Typed access to rtnetlink: the only module that speaks pyroute2.

One Rtnl wraps one netlink socket in one namespace: the node's (the namespace
the calling thread is in) or a pod's (opened through namespaces.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface, IPv4Network
from typing import Any

from pyroute2 import AsyncIPRoute, IPRoute
from pyroute2.netlink.exceptions import NetlinkError

from netagent.dataplane.errors import NetlinkOperationFailed
from netagent.dataplane.model import RouteState
from netagent.dataplane.namespaces import netlink_socket_in_netns

MAIN_TABLE = 254
PROTO_BOOT = 3  # what `ip route add` and the reference plugins use
IFF_UP = 0x1
IFA_F_NOPREFIXROUTE = 0x200
ENODEV = 19
ESRCH = 3
_DEFAULT_DST = IPv4Network("0.0.0.0/0")


@dataclass(frozen=True)
class LinkInfo:
    name: str
    index: int
    mac: str
    mtu: int
    up: bool
    kind: str | None
    peer_index: int | None
    alias: str | None


def _link_info(msg: Any) -> LinkInfo:
    return LinkInfo(
        name=str(msg.get("ifname")),
        index=int(msg["index"]),
        mac=str(msg.get("address") or ""),
        mtu=int(msg.get("mtu") or 0),
        up=bool(int(msg["flags"]) & IFF_UP),
        kind=msg.get(("linkinfo", "kind")),
        peer_index=msg.get("link"),
        alias=msg.get("ifalias"),
    )


@contextlib.contextmanager
def _translated(operation: str) -> Iterator[None]:
    try:
        yield
    except NetlinkError as error:
        message = str(error.args[1]) if len(error.args) > 1 else str(error)
        raise NetlinkOperationFailed(operation, int(error.code), message) from None


def _create_veth_blocking(name: str, mtu: int, peer: dict[str, Any]) -> None:
    with IPRoute() as ipr:
        ipr.link("add", ifname=name, kind="veth", mtu=mtu, peer=peer)


def _delete_link_blocking(name: str) -> None:
    with IPRoute() as ipr:
        ipr.link("del", ifname=name)


async def _in_thread_to_completion(function: Callable[..., None], *args: Any) -> None:
    """function(*args) on a worker thread. If the caller is cancelled (a timeout), the
    thread is still waited for before the cancellation goes on: a thread cannot be
    stopped, and undo code must see what the kernel did, not what it is about to do."""
    work = asyncio.ensure_future(asyncio.to_thread(function, *args))
    try:
        await asyncio.shield(work)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await work
        raise


class Rtnl:
    """Typed rtnetlink requests on one socket, for IPv4 and the main table.

    The kernel runs a netlink request inside sendmsg(), so pyroute2's async
    calls block the event loop for as long as the kernel takes. Creating and
    deleting a veth holds the RTNL lock for up to tens of milliseconds (an RCU
    grace period on delete), which stalled every other CNI request queued
    behind it. On the node's namespace (which the agent's worker threads share)
    those two requests therefore run on a worker thread with their own socket.
    """

    def __init__(self, ipr: Any, where: str, threads_share_netns: bool = False) -> None:
        self._ipr = ipr
        self.where = where
        self._threads_share_netns = threads_share_netns

    async def link(self, name: str) -> LinkInfo | None:
        try:
            with _translated(f"get link {name} in {self.where}"):
                found = await self._ipr.link("get", ifname=name)
        except NetlinkOperationFailed as error:
            if error.errno == ENODEV:
                return None
            raise
        return _link_info(found[0])

    async def links(self) -> list[LinkInfo]:
        with _translated(f"dump links in {self.where}"):
            return [_link_info(msg) async for msg in await self._ipr.link("dump")]

    async def create_veth(self, name: str, peer_name: str, peer_netns_fd: int, mtu: int) -> None:
        """Both ends in one request, the peer created directly in its namespace."""
        peer = {"ifname": peer_name, "net_ns_fd": peer_netns_fd, "mtu": mtu}
        with _translated(f"create veth {name} (peer {peer_name}) in {self.where}"):
            if self._threads_share_netns:
                await _in_thread_to_completion(_create_veth_blocking, name, mtu, peer)
            else:
                await self._ipr.link("add", ifname=name, kind="veth", mtu=mtu, peer=peer)

    async def set_up(self, index: int, alias: str | None = None) -> None:
        extra = {} if alias is None else {"ifalias": alias}
        with _translated(f"set link {index} up in {self.where}"):
            await self._ipr.link("set", index=index, state="up", **extra)

    async def delete_link(self, name: str) -> bool:
        """False when there was no such link."""
        try:
            with _translated(f"delete link {name} in {self.where}"):
                if not self._threads_share_netns:
                    await self._ipr.link("del", ifname=name)
                elif await self.link(name) is None:
                    return False  # a cheap get spares a thread and a socket (repeated DELs)
                else:
                    await _in_thread_to_completion(_delete_link_blocking, name)
        except NetlinkOperationFailed as error:
            if error.errno == ENODEV:
                return False
            raise
        return True

    async def add_address(self, index: int, address: IPv4Interface, prefix_route: bool) -> None:
        flags = {} if prefix_route else {"IFA_FLAGS": IFA_F_NOPREFIXROUTE}
        with _translated(f"add address {address} to link {index} in {self.where}"):
            await self._ipr.addr(
                "add",
                index=index,
                address=str(address.ip),
                prefixlen=address.network.prefixlen,
                **flags,
            )

    async def addresses(self) -> dict[int, tuple[IPv4Interface, ...]]:
        """IPv4 addresses by link index."""
        found: dict[int, list[IPv4Interface]] = {}
        with _translated(f"dump addresses in {self.where}"):
            async for msg in await self._ipr.addr("dump", family=socket.AF_INET):
                address = IPv4Interface(f"{msg.get('address')}/{msg['prefixlen']}")
                found.setdefault(int(msg["index"]), []).append(address)
        return {index: tuple(addresses) for index, addresses in found.items()}

    async def add_route(
        self,
        dst: IPv4Network,
        *,
        scope: int,
        protocol: int,
        device_index: int | None = None,
        gateway: IPv4Address | None = None,
        prefsrc: IPv4Address | None = None,
        replace: bool = False,
    ) -> None:
        request: dict[str, Any] = {
            "dst": str(dst),
            "table": MAIN_TABLE,
            "scope": scope,
            "proto": protocol,
        }
        if device_index is not None:
            request["oif"] = device_index
        if gateway is not None:
            request["gateway"] = str(gateway)
        if prefsrc is not None:
            request["prefsrc"] = str(prefsrc)
        command = "replace" if replace else "add"
        with _translated(f"{command} route {dst} via {gateway} in {self.where}"):
            await self._ipr.route(command, **request)

    async def delete_route(
        self, dst: IPv4Network, gateway: IPv4Address | None, protocol: int
    ) -> bool:
        """False when the route was already gone."""
        request: dict[str, Any] = {"dst": str(dst), "table": MAIN_TABLE, "proto": protocol}
        if gateway is not None:
            request["gateway"] = str(gateway)
        try:
            with _translated(f"delete route {dst} via {gateway} in {self.where}"):
                await self._ipr.route("del", **request)
        except NetlinkOperationFailed as error:
            if error.errno == ESRCH:
                return False
            raise
        return True

    async def routes(self) -> list[RouteState]:
        """IPv4 unicast routes of the main table (multipath routes show no gateway/device)."""
        names = {link.index: link.name for link in await self.links()}
        found = []
        with _translated(f"dump routes in {self.where}"):
            async for msg in await self._ipr.route("dump", family=socket.AF_INET):
                if msg.get("table") != MAIN_TABLE:
                    continue
                dst = msg.get("dst")
                gateway = msg.get("gateway")
                prefsrc = msg.get("prefsrc")
                oif = msg.get("oif")
                found.append(
                    RouteState(
                        dst=IPv4Network(f"{dst}/{msg['dst_len']}") if dst else _DEFAULT_DST,
                        gateway=IPv4Address(gateway) if gateway else None,
                        device=names.get(oif) if oif is not None else None,
                        prefsrc=IPv4Address(prefsrc) if prefsrc else None,
                        scope=int(msg["scope"]),
                        protocol=int(msg["proto"]),
                    )
                )
        return found


@contextlib.asynccontextmanager
async def node_rtnl() -> AsyncIterator[Rtnl]:
    """Rtnl on the namespace the calling thread is in: the node's."""
    ipr = AsyncIPRoute()
    try:
        yield Rtnl(ipr, "the node netns", threads_share_netns=True)
    finally:
        ipr.close()


@contextlib.asynccontextmanager
async def pod_rtnl(netns_fd: int, netns_path: str) -> AsyncIterator[Rtnl]:
    """Rtnl on the pod namespace netns_fd refers to, opened without forking."""
    sock = await netlink_socket_in_netns(netns_fd)
    try:
        ipr = AsyncIPRoute(use_socket=sock)
        try:
            yield Rtnl(ipr, f"netns {netns_path}")
        finally:
            ipr.close()
    finally:
        sock.close()
