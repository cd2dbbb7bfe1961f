"""attachment_problems(): observed state vs the layout attach() builds. Pure."""

from __future__ import annotations

import dataclasses
from ipaddress import IPv4Interface, IPv4Network

from netagent.dataplane import InterfaceState, ObservedAttachment, RouteState
from netagent.dataplane.attachment_check import attachment_problems
from netagent.dataplane.model import SCOPE_HOST, SCOPE_LINK, SCOPE_UNIVERSE
from tests.dataplane.conftest import GATEWAY, POD_RANGE, pod_spec

SPEC = pod_spec("pod", 2)
POD_IP = SPEC.pod_ip


def _healthy() -> ObservedAttachment:
    pod = InterfaceState(
        name="eth0",
        index=2,
        mac="aa:bb:cc:00:00:02",
        mtu=1450,
        up=True,
        kind="veth",
        peer_index=7,
        addresses=(SPEC.address,),
    )
    host = dataclasses.replace(
        pod,
        name=SPEC.host_ifname,
        index=7,
        mac="aa:bb:cc:00:00:07",
        peer_index=2,
        addresses=(IPv4Interface(GATEWAY),),
    )
    return ObservedAttachment(
        pod_interface=pod,
        pod_routes=(
            RouteState(IPv4Network(GATEWAY), None, "eth0", POD_IP, SCOPE_LINK, 3),
            RouteState(POD_RANGE, GATEWAY, "eth0", POD_IP, SCOPE_UNIVERSE, 3),
            RouteState(IPv4Network("0.0.0.0/0"), GATEWAY, "eth0", None, SCOPE_UNIVERSE, 3),
        ),
        host_veth=host,
        host_routes=(RouteState(IPv4Network(POD_IP), None, SPEC.host_ifname, None, SCOPE_HOST, 3),),
    )


def test_the_built_layout_has_no_problems() -> None:
    assert attachment_problems(SPEC, _healthy(), "AA:BB:CC:00:00:02") == []


def test_a_pair_that_is_not_one_veth_is_reported() -> None:
    observed = _healthy()
    assert observed.host_veth is not None
    observed = dataclasses.replace(
        observed, host_veth=dataclasses.replace(observed.host_veth, peer_index=99)
    )
    assert attachment_problems(SPEC, observed) == [
        f"eth0 and {SPEC.host_ifname} are not peers of one veth pair"
    ]


def test_each_missing_piece_is_named() -> None:
    observed = dataclasses.replace(_healthy(), pod_routes=(), host_routes=())
    problems = attachment_problems(SPEC, observed)
    assert len(problems) == 4
    assert any("route 10.244.1.1/32 scope link" in p for p in problems)
    assert any(f"route {POD_IP}/32 dev {SPEC.host_ifname}" in p for p in problems)


def test_everything_gone_is_two_problems() -> None:
    observed = ObservedAttachment(None, (), None, ())
    assert len(attachment_problems(SPEC, observed)) == 2
