"""diff_peer_routes(): desired vs actual, no kernel involved."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

from netagent.dataplane import PeerRoute, RouteDiff, diff_peer_routes

A = IPv4Network("10.244.2.0/24")
B = IPv4Network("10.244.3.0/24")
C = IPv4Network("10.244.4.0/24")
NODE3 = IPv4Address("172.18.0.3")
NODE4 = IPv4Address("172.18.0.4")
NODE5 = IPv4Address("172.18.0.5")


def test_nothing_to_do() -> None:
    assert diff_peer_routes({}, []).is_empty
    assert diff_peer_routes({A: NODE3}, [PeerRoute(A, NODE3)]).is_empty


def test_missing_routes_are_added_in_order() -> None:
    assert diff_peer_routes({B: NODE4, A: NODE3}, []) == RouteDiff(
        add=(PeerRoute(A, NODE3), PeerRoute(B, NODE4))
    )


def test_departed_ranges_are_deleted() -> None:
    assert diff_peer_routes({A: NODE3}, [PeerRoute(A, NODE3), PeerRoute(B, NODE4)]) == RouteDiff(
        delete=(PeerRoute(B, NODE4),)
    )


def test_changed_next_hop_is_replaced_in_place() -> None:
    assert diff_peer_routes({A: NODE5}, [PeerRoute(A, NODE3)]) == RouteDiff(
        replace=(PeerRoute(A, NODE5),)
    )


def test_duplicates_keep_the_right_one() -> None:
    actual = [PeerRoute(A, NODE3), PeerRoute(A, NODE4)]
    assert diff_peer_routes({A: NODE4}, actual) == RouteDiff(delete=(PeerRoute(A, NODE3),))


def test_duplicates_without_the_right_one_are_rebuilt() -> None:
    actual = [PeerRoute(A, NODE3), PeerRoute(A, NODE4)]
    assert diff_peer_routes({A: NODE5}, actual) == RouteDiff(
        delete=(PeerRoute(A, NODE3), PeerRoute(A, NODE4)),
        add=(PeerRoute(A, NODE5),),
    )


def test_gatewayless_route_is_deleted_then_added() -> None:
    actual = [PeerRoute(A, None), PeerRoute(C, None)]
    assert diff_peer_routes({A: NODE3}, actual) == RouteDiff(
        delete=(PeerRoute(A, None), PeerRoute(C, None)),
        add=(PeerRoute(A, NODE3),),
    )


def test_applying_the_diff_converges() -> None:
    actual = {PeerRoute(A, NODE3), PeerRoute(B, NODE4), PeerRoute(B, NODE5)}
    desired = {A: NODE5, C: NODE3}
    diff = diff_peer_routes(desired, actual)
    after = (actual - set(diff.delete)) | set(diff.add)
    after = {r for r in after if r.dst not in {x.dst for x in diff.replace}} | set(diff.replace)
    assert after == {PeerRoute(dst, via) for dst, via in desired.items()}
    assert diff_peer_routes(desired, after).is_empty
