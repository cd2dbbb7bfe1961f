"""apply_event, the pure step from ipamd's range stream to the live ranges by node, and the
follower that keeps the kernel's peer routes equal to them across a broken stream."""

from __future__ import annotations

import asyncio
import ipaddress

import pytest

from netagent.controllers.peer_route_follower import (
    PeerRouteFollower,
    apply_event,
    desired_routes,
)
from netagent.ipam_client import NodeRange, PeerRangeEvent
from tests.unit.conftest import NODE, eventually
from tests.unit.fake_dataplane import FakeDataplane
from tests.unit.fake_ipamd import CLUSTER_CIDR, FakeIpamd

pytestmark = pytest.mark.unit


def node_range(node: str, third_octet: int) -> NodeRange:
    cidr = ipaddress.IPv4Network(f"10.244.{third_octet}.0/24")
    return NodeRange(
        node=node,
        cidr=cidr,
        gateway=cidr.network_address + 1,
        node_ip=ipaddress.IPv4Address(f"192.0.2.{third_octet}"),
        cluster_cidr=CLUSTER_CIDR,
        lease_ttl_seconds=30,
    )


def event(kind: str, *ranges: NodeRange, revision: int = 1) -> PeerRangeEvent:
    return PeerRangeEvent(kind, ranges, revision)


B1, B9, C2, D3 = node_range("b", 1), node_range("b", 9), node_range("c", 2), node_range("d", 3)


def test_snapshot_replaces_everything_known() -> None:
    known = {"b": B1, "c": C2}
    assert apply_event(known, event("snapshot", D3, B9)) == {"d": D3, "b": B9}
    assert apply_event(known, event("snapshot")) == {}


def test_added_adds_and_moves_a_node_to_its_new_range() -> None:
    assert apply_event({"b": B1}, event("added", C2)) == {"b": B1, "c": C2}
    assert apply_event({"b": B1}, event("added", B9)) == {"b": B9}


def test_removed_drops_the_node_only_for_the_range_it_holds() -> None:
    assert apply_event({"b": B1, "c": C2}, event("removed", B1)) == {"c": C2}
    # The old range's removal arriving after the node's new range was added.
    assert apply_event({"b": B9}, event("removed", B1)) == {"b": B9}
    assert apply_event({"c": C2}, event("removed", B1)) == {"c": C2}


def test_duplicate_events_change_nothing_more() -> None:
    once = apply_event({"c": C2}, event("added", B1))
    assert apply_event(once, event("added", B1)) == once == {"b": B1, "c": C2}
    removed = apply_event(once, event("removed", B1))
    assert apply_event(removed, event("removed", B1)) == removed == {"c": C2}


def test_a_lapse_replayed_as_remove_then_add_ends_where_it_started() -> None:
    live = {"b": B1, "c": C2}
    for change in (event("removed", B1, revision=7), event("added", B1, revision=8)):
        live = apply_event(live, change)
    assert live == {"b": B1, "c": C2}


def test_apply_event_leaves_its_input_alone() -> None:
    known = {"b": B1}
    apply_event(known, event("added", C2))
    apply_event(known, event("removed", B1))
    apply_event(known, event("snapshot", D3))
    assert known == {"b": B1}


def test_desired_routes_are_every_peer_range_via_its_node_but_not_our_own() -> None:
    live = {"b": B1, "c": C2, NODE: node_range(NODE, 5)}
    assert desired_routes(live, NODE) == {B1.cidr: B1.node_ip, C2.cidr: C2.node_ip}


async def test_follower_routes_follow_the_stream_across_a_reconnect() -> None:
    ipamd, dataplane = FakeIpamd(), FakeDataplane()
    await ipamd.acquire_range(NODE, "192.0.2.10")
    await ipamd.acquire_range("b", "192.0.2.11")
    reconnected = asyncio.Event()
    follower = PeerRouteFollower(ipamd, NODE, dataplane.sync_peer_routes, reconnected.set)
    stop = asyncio.Event()
    task = asyncio.create_task(follower.run(stop))
    try:
        b = ipamd.ranges["b"]
        await eventually(lambda: dataplane.peer_routes == {b.cidr: b.node_ip}, "b's route")
        assert follower.connected
        c = await ipamd.acquire_range("c", "192.0.2.12")
        ipamd.publish("added", c)
        both = {b.cidr: b.node_ip, c.cidr: c.node_ip}
        await eventually(lambda: dataplane.peer_routes == both, "c's route")

        ipamd.go_down()
        await eventually(lambda: not follower.connected, "the stream to break")
        del ipamd.ranges["b"]  # b's removal happens while we are cut off
        assert dataplane.peer_routes == both  # routes are kept while cut off
        ipamd.come_back()

        await asyncio.wait_for(reconnected.wait(), 5)
        await eventually(lambda: dataplane.peer_routes == {c.cidr: c.node_ip}, "c's route only")
    finally:
        stop.set()
        task.cancel()  # as the agent does: stop alone does not end an open stream
        await asyncio.gather(task, return_exceptions=True)
