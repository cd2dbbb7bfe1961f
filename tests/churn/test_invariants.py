"""The invariant checker's pure core: each invariant broken on purpose, and kept."""

from __future__ import annotations

from tools.churn.invariants import (
    Allocation,
    ChurnArtifacts,
    NodeObservation,
    NodeState,
    PodLifetime,
    RunObservations,
    check_run,
    duplicate_ips,
    leaked_allocations,
    node_leftovers,
)


def lifetime(cid: str, ip: str, added: float, released: float | None) -> PodLifetime:
    return PodLifetime(cid, "worker", ip, added, released)


def test_address_reused_after_release_is_fine() -> None:
    found = duplicate_ips(
        [lifetime("a", "10.244.1.2", 0.0, 1.0), lifetime("b", "10.244.1.2", 1.5, 2.0)]
    )
    assert found == []


def test_address_given_twice_while_held_is_a_violation() -> None:
    found = duplicate_ips(
        [lifetime("a", "10.244.1.2", 0.0, 2.0), lifetime("b", "10.244.1.2", 1.0, 3.0)]
    )
    assert [v.invariant for v in found] == ["duplicate-ip"]
    assert "10.244.1.2" in found[0].detail


def test_overlap_with_an_earlier_long_lived_holder_is_found() -> None:
    # c overlaps a (still live), not b: the sweep must remember the longest holder.
    found = duplicate_ips(
        [
            lifetime("a", "10.244.1.9", 0.0, None),
            lifetime("b", "10.244.1.9", 1.0, 1.5),
            lifetime("c", "10.244.1.9", 5.0, 6.0),
        ]
    )
    assert len(found) == 2


def test_different_addresses_never_conflict() -> None:
    found = duplicate_ips([lifetime("a", "10.244.1.2", 0, 5), lifetime("b", "10.244.1.3", 1, 4)])
    assert found == []


def test_allocation_of_a_gone_pod_is_a_leak() -> None:
    allocations = [
        Allocation("worker", "10.244.1.7", "dead"),
        Allocation("worker", "10.244.1.8", "live"),
    ]
    found = leaked_allocations(allocations, frozenset({"live"}))
    assert [v.invariant for v in found] == ["leaked-allocation"]
    assert "10.244.1.7" in found[0].detail


def test_leftover_veth_route_and_rule_are_reported() -> None:
    before = NodeState(frozenset({"eth0-peer"}), frozenset(), ("table ip nat {",))
    after = NodeState(
        frozenset({"eth0-peer", "veth1234abcd"}),
        frozenset({"unicast 10.244.1.5 dev veth1234abcd table main"}),
        ("table ip nat {", "tcp dport 30001 dnat to 10.244.1.5:80", "chain CNI-HOSTPORT-DNAT {"),
    )
    artifacts = ChurnArtifacts(
        container_ids=frozenset({"c" * 64}),
        ips=frozenset({"10.244.1.5"}),
        host_veths=frozenset({"veth1234abcd"}),
        host_ports=frozenset({30001}),
    )
    found = node_leftovers(NodeObservation("worker", before, after), artifacts)
    kinds = sorted(v.invariant for v in found)
    # the shared CNI-HOSTPORT-DNAT chain names no pod, so it is not a leftover
    assert kinds == ["leftover-route", "leftover-rule", "leftover-veth"]


def test_rule_naming_an_address_that_merely_shares_a_prefix_is_not_a_leftover() -> None:
    after = NodeState(ruleset_lines=("ip daddr 10.244.1.50 accept",))
    artifacts = ChurnArtifacts(ips=frozenset({"10.244.1.5"}))
    assert node_leftovers(NodeObservation("n", NodeState(), after), artifacts) == []


def test_clean_run_has_no_violations_and_broken_run_lists_all() -> None:
    state = NodeState(frozenset({"x"}), frozenset({"local 172.18.0.3 dev eth0 table local"}), ())
    clean = RunObservations(
        lifetimes=[lifetime("a", "10.244.1.2", 0, 1)],
        allocations=[],
        live_container_ids=frozenset(),
        nodes=[NodeObservation("worker", state, state)],
        artifacts=ChurnArtifacts(ips=frozenset({"10.244.1.2"})),
    )
    assert check_run(clean) == []
    broken = RunObservations(
        lifetimes=[lifetime("a", "10.244.1.2", 0, 2), lifetime("b", "10.244.1.2", 1, 3)],
        allocations=[Allocation("worker", "10.244.1.2", "b")],
        live_container_ids=frozenset(),
        nodes=[NodeObservation("worker", state, state)],
        artifacts=ChurnArtifacts(),
        leftover_pod_netns=["pl-churn-0001-3"],
    )
    kinds = [v.invariant for v in check_run(broken)]
    assert kinds == ["duplicate-ip", "leaked-allocation", "leftover-netns"]
