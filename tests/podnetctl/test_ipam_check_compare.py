"""ipam check's comparison on the cases a lab cannot easily make: an address wired under
another container, an attachment holding a different address than ipamd's, a veth
naming no attachment, nodes whose agent did not answer."""

from __future__ import annotations

from podnetctl.cluster.ipam_check import Finding, Kind, compare, persisting
from podnetctl.cluster.model import Allocation, AttachedInterface


def allocated(address: str, container: str, node: str = "n1") -> Allocation:
    return Allocation(address, node, container, "eth0", "default", f"pod-{container}")


def wired(
    addresses: tuple[str, ...], container: str, node: str = "n1", veth: str = "veth0"
) -> AttachedInterface:
    return AttachedInterface(node, container, "eth0" if container else "", addresses, veth, "", "")


def summary(findings: list[Finding]) -> list[tuple[str, str, str, str]]:
    return [
        (f.kind.value, f.address, f.container_id, f.ipamd_says + " | " + f.agent_says)
        for f in findings
    ]


def test_matching_sides_are_clean() -> None:
    assert compare([allocated("10.0.0.2", "a")], {"n1": [wired(("10.0.0.2",), "a")]}) == []


def test_an_attachment_wired_with_another_address_is_a_leak_and_an_orphan() -> None:
    findings = compare([allocated("10.0.0.2", "a")], {"n1": [wired(("10.0.0.3",), "a")]})

    assert summary(findings) == [
        (
            "leak",
            "10.0.0.2",
            "a",
            "allocated to a/eth0 (pod default/pod-a) | veth0 of this attachment routes 10.0.0.3",
        ),
        (
            "orphan",
            "10.0.0.3",
            "a",
            "this attachment holds 10.0.0.2, 10.0.0.3 is free | veth0 routes 10.0.0.3",
        ),
    ]


def test_an_address_wired_under_another_container_names_both() -> None:
    findings = compare(
        [allocated("10.0.0.2", "b")], {"n1": [wired(("10.0.0.2",), "a", veth="vethA")]}
    )

    assert summary(findings) == [
        (
            "leak",
            "10.0.0.2",
            "b",
            "allocated to b/eth0 (pod default/pod-b) | 10.0.0.2 is routed to vethA of a/eth0, "
            "and this attachment has no interface",
        ),
        (
            "orphan",
            "10.0.0.2",
            "a",
            "10.0.0.2 is allocated to b/eth0 on node n1 | vethA routes 10.0.0.2",
        ),
    ]


def test_a_veth_naming_no_attachment_and_routing_nothing_is_an_orphan() -> None:
    findings = compare([], {"n1": [wired((), "", veth="vethX")]})

    assert [(f.kind, f.address, f.ipamd_says, f.agent_says) for f in findings] == [
        (Kind.ORPHAN, "", "no allocation for this attachment", "vethX routes no address")
    ]


def test_an_attachment_whose_address_route_is_gone_is_one_leak() -> None:
    findings = compare([allocated("10.0.0.2", "a")], {"n1": [wired((), "a", veth="vethA")]})

    assert summary(findings) == [
        (
            "leak",
            "10.0.0.2",
            "a",
            "allocated to a/eth0 (pod default/pod-a) | vethA of this attachment routes no address",
        )
    ]


def test_allocations_of_nodes_whose_agent_did_not_answer_are_not_judged() -> None:
    findings = compare(
        [allocated("10.0.1.2", "x", node="n2"), allocated("10.0.0.2", "a")],
        {"n1": [wired(("10.0.0.2",), "a")]},
    )

    assert findings == []


def test_only_what_both_looks_found_is_reported() -> None:
    first = compare(
        [allocated("10.0.0.2", "a"), allocated("10.0.0.3", "b")],
        {"n1": [wired(("10.0.0.2",), "a")]},
    )
    second = compare(
        [allocated("10.0.0.3", "b"), allocated("10.0.0.4", "c")], {"n1": []}
    )  # a was deleted in between; c is being added

    assert [(f.kind, f.address) for f in persisting(first, second)] == [(Kind.LEAK, "10.0.0.3")]
