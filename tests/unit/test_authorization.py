"""ipamd's authorization policy, a pure function of the caller's identity and the call."""

from __future__ import annotations

import pytest
from podnet.tls.identity import Role, SpiffeId

from ipamd.authorization import (
    ACQUIRE,
    ALLOCATE,
    KEEP,
    LIST,
    RELEASE,
    RENEW,
    WATCH,
    CallFacts,
    Reason,
    authorize,
)
from ipamd.limits import IdentitySlots

pytestmark = pytest.mark.unit

DOMAIN = "podnet.local"
WORKER = SpiffeId(DOMAIN, Role.NODE, "worker")
ADMIN = SpiffeId(DOMAIN, Role.ADMIN, "alice")
CIDR = "10.244.1.0/24"


def facts(method: str, node: str = "worker", holder: str | None = "worker") -> CallFacts:
    return CallFacts(method, node, CIDR if method in (RENEW, KEEP, ALLOCATE) else "", holder)


@pytest.mark.parametrize("method", [ACQUIRE, RENEW, KEEP, ALLOCATE, RELEASE, LIST, WATCH])
def test_a_node_may_do_everything_for_itself(method: str) -> None:
    assert authorize(WORKER, facts(method)).allowed


@pytest.mark.parametrize("method", [ACQUIRE, RENEW, KEEP, ALLOCATE, RELEASE, LIST])
def test_a_node_may_do_nothing_for_another_node(method: str) -> None:
    decision = authorize(WORKER, facts(method, node="control-plane", holder="control-plane"))
    assert not decision.allowed
    assert decision.reason is Reason.NODE_MISMATCH
    assert "control-plane" in decision.message and "worker" in decision.message


def test_a_node_holds_at_most_one_range_because_it_acquires_only_under_its_own_name() -> None:
    """Acquire is idempotent per node name, and a node may only use its own name: one
    certificate, one range, however many names it makes up."""
    for made_up in ("worker-2", "worker ", "", "WORKER", "control-plane"):
        decision = authorize(WORKER, facts(ACQUIRE, node=made_up))
        assert not decision.allowed and decision.reason is Reason.NODE_MISMATCH


def test_a_node_may_not_allocate_in_a_range_another_node_holds() -> None:
    decision = authorize(WORKER, facts(ALLOCATE, holder="control-plane"))
    assert not decision.allowed
    assert decision.reason is Reason.RANGE_OF_ANOTHER_NODE
    assert CIDR in decision.message


def test_a_range_nobody_holds_is_left_to_the_allocator() -> None:
    """The allocator answers FAILED_PRECONDITION (not held), which an agent whose range
    was reclaimed needs to hear to acquire again."""
    assert authorize(WORKER, facts(ALLOCATE, holder=None)).allowed


def test_renewing_a_range_held_by_another_node_is_left_to_the_allocator() -> None:
    """NOT_FOUND from the allocator is how an agent learns its range was handed on."""
    assert authorize(WORKER, facts(RENEW, holder="control-plane")).allowed


@pytest.mark.parametrize("method", [LIST, RELEASE, WATCH])
def test_admin_may_list_release_and_watch_for_any_node(method: str) -> None:
    assert authorize(ADMIN, facts(method, node="anyone")).allowed


@pytest.mark.parametrize("method", [ACQUIRE, RENEW, KEEP, ALLOCATE])
def test_admin_may_not_take_ranges_or_addresses(method: str) -> None:
    decision = authorize(ADMIN, facts(method, node="anyone"))
    assert not decision.allowed and decision.reason is Reason.ADMIN_CANNOT_ALLOCATE


@pytest.mark.parametrize("role", [Role.IPAMD, Role.ETCD, Role.ETCD_CLIENT])
@pytest.mark.parametrize("method", [ACQUIRE, RENEW, ALLOCATE, RELEASE, LIST, WATCH])
def test_other_roles_may_call_nothing(role: Role, method: str) -> None:
    caller = SpiffeId(DOMAIN, role, "worker")  # even named like a node
    decision = authorize(caller, facts(method))
    assert not decision.allowed and decision.reason is Reason.ROLE_NOT_ALLOWED


@pytest.mark.parametrize("caller", [WORKER, ADMIN])
def test_a_method_the_policy_does_not_know_is_refused_to_everyone(caller: SpiffeId) -> None:
    decision = authorize(caller, facts("DeleteEverything"))
    assert not decision.allowed and decision.reason is Reason.UNKNOWN_METHOD


def test_identity_slots_count_per_key_and_free_on_give_back() -> None:
    slots = IdentitySlots(2)
    assert slots.try_take("a") and slots.try_take("a")
    assert not slots.try_take("a")
    assert slots.try_take("b")
    slots.give_back("a")
    assert slots.held("a") == 1 and slots.try_take("a")
    for _ in range(2):
        slots.give_back("a")
    assert slots.held("a") == 0
