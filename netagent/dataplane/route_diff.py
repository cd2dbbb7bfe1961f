"""Desired vs actual peer routes -> what to delete, replace and add. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network


@dataclass(frozen=True, order=True)
class PeerRoute:
    """`dst via via`: a peer node's pod range through that node's IP.

    via is None only for a podnet-marked route found without a single gateway
    (e.g. multipath): such routes are only ever deleted.
    """

    dst: IPv4Network
    via: IPv4Address | None


@dataclass(frozen=True)
class RouteDiff:
    delete: tuple[PeerRoute, ...] = ()
    replace: tuple[PeerRoute, ...] = ()
    """Routes whose destination exists once with another gateway; swapped in place."""
    add: tuple[PeerRoute, ...] = ()

    @property
    def is_empty(self) -> bool:
        return not (self.delete or self.replace or self.add)


def _sort_key(route: PeerRoute) -> tuple[IPv4Network, IPv4Address]:
    return route.dst, route.via or IPv4Address(0)


def diff_peer_routes(
    desired: Mapping[IPv4Network, IPv4Address], actual: Iterable[PeerRoute]
) -> RouteDiff:
    by_dst: dict[IPv4Network, list[PeerRoute]] = {}
    for route in actual:
        by_dst.setdefault(route.dst, []).append(route)

    delete: list[PeerRoute] = []
    replace: list[PeerRoute] = []
    add: list[PeerRoute] = []
    for dst, present in by_dst.items():
        if dst not in desired:
            delete.extend(present)
    for dst, via in desired.items():
        wanted = PeerRoute(dst, via)
        present = by_dst.get(dst, [])
        if wanted in present:
            delete.extend(route for route in present if route != wanted)
        elif len(present) == 1 and present[0].via is not None:
            replace.append(wanted)
        else:
            delete.extend(present)
            add.append(wanted)
    return RouteDiff(
        delete=tuple(sorted(delete, key=_sort_key)),
        replace=tuple(sorted(replace, key=_sort_key)),
        add=tuple(sorted(add, key=_sort_key)),
    )
