"""CHECK: compare what exists with what attach() makes. Pure."""

from __future__ import annotations

from ipaddress import IPv4Interface, IPv4Network

from netagent.dataplane.model import (
    SCOPE_HOST,
    SCOPE_LINK,
    ObservedAttachment,
    PodNetworkSpec,
    RouteState,
)

_DEFAULT_ROUTE = IPv4Network("0.0.0.0/0")


def _has_route(
    routes: tuple[RouteState, ...],
    dst: IPv4Network,
    *,
    gateway: object = None,
    scope: int | None = None,
    prefsrc: object = None,
) -> bool:
    return any(
        route.dst == dst
        and route.gateway == gateway
        and (scope is None or route.scope == scope)
        and (prefsrc is None or route.prefsrc == prefsrc)
        for route in routes
    )


def attachment_problems(
    spec: PodNetworkSpec,
    observed: ObservedAttachment,
    expected_pod_mac: str | None = None,
) -> list[str]:
    """Every difference between observed and the layout attach(spec) builds."""
    problems: list[str] = []
    pod = observed.pod_interface
    host = observed.host_veth
    where = f"netns {spec.netns}"
    if pod is None:
        problems.append(f"{spec.ifname} missing in {where}")
    else:
        if pod.kind != "veth":
            problems.append(f"{spec.ifname} in {where} is a {pod.kind}, not a veth")
        if not pod.up:
            problems.append(f"{spec.ifname} in {where} is down")
        if pod.mtu != spec.mtu:
            problems.append(f"{spec.ifname} mtu is {pod.mtu}, expected {spec.mtu}")
        if spec.address not in pod.addresses:
            problems.append(f"{spec.ifname} lacks address {spec.address}")
        if expected_pod_mac is not None and pod.mac.lower() != expected_pod_mac.lower():
            problems.append(f"{spec.ifname} mac is {pod.mac}, expected {expected_pod_mac}")
        routes = observed.pod_routes
        gateway_host = IPv4Network(spec.gateway)
        if not _has_route(routes, gateway_host, scope=SCOPE_LINK, prefsrc=spec.pod_ip):
            problems.append(f"route {gateway_host} scope link src {spec.pod_ip} missing in {where}")
        if not _has_route(routes, spec.pod_range, gateway=spec.gateway, prefsrc=spec.pod_ip):
            problems.append(
                f"route {spec.pod_range} via {spec.gateway} src {spec.pod_ip} missing in {where}"
            )
        if not _has_route(routes, _DEFAULT_ROUTE, gateway=spec.gateway):
            problems.append(f"default route via {spec.gateway} missing in {where}")
    if host is None:
        problems.append(f"host veth {spec.host_ifname} missing")
    else:
        if not host.up:
            problems.append(f"host veth {spec.host_ifname} is down")
        if host.mtu != spec.mtu:
            problems.append(f"host veth mtu is {host.mtu}, expected {spec.mtu}")
        if IPv4Interface(spec.gateway) not in host.addresses:
            problems.append(f"host veth {spec.host_ifname} lacks address {spec.gateway}/32")
        pod_ip_host = IPv4Network(spec.pod_ip)
        if not _has_route(observed.host_routes, pod_ip_host, scope=SCOPE_HOST):
            problems.append(f"route {pod_ip_host} dev {spec.host_ifname} missing on the node")
    if (
        pod is not None
        and host is not None
        and (pod.peer_index != host.index or host.peer_index != pod.index)
    ):
        problems.append(f"{spec.ifname} and {spec.host_ifname} are not peers of one veth pair")
    return problems
