from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from netagent.cni.errors import CniError
from netagent.cni.port_mappings import PortMapping, parse_port_mappings


def test_podman_and_containerd_spellings_give_the_same_mappings() -> None:
    podman = {"portMappings": [{"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}]}
    containerd = {
        "portMappings": [{"HostPort": 8080, "ContainerPort": 80, "Protocol": "TCP", "HostIP": ""}]
    }
    expected = (PortMapping("tcp", 8080, 80, None),)
    assert parse_port_mappings(podman) == expected
    assert parse_port_mappings(containerd) == expected


def test_defaults_host_ip_and_skipped_families() -> None:
    parsed = parse_port_mappings(
        {
            "portMappings": [
                {"hostPort": 53, "containerPort": 5353, "protocol": "udp", "hostIP": "10.0.0.5"},
                {"hostPort": 81, "containerPort": 80},
                {"hostPort": 82, "containerPort": 80, "hostIP": "0.0.0.0"},
                {"hostPort": 83, "containerPort": 80, "hostIP": "::1"},
            ]
        }
    )
    assert parsed == (
        PortMapping("tcp", 81, 80, None),
        PortMapping("tcp", 82, 80, None),
        PortMapping("udp", 53, 5353, ipaddress.IPv4Address("10.0.0.5")),
    )


def test_absent_means_none() -> None:
    assert parse_port_mappings({}) == ()


@pytest.mark.parametrize(
    "raw",
    [
        {"portMappings": "8080:80"},
        {"portMappings": [7]},
        {"portMappings": [{"hostPort": 0, "containerPort": 80}]},
        {"portMappings": [{"hostPort": 70000, "containerPort": 80}]},
        {"portMappings": [{"hostPort": "80", "containerPort": 80}]},
        {"portMappings": [{"hostPort": 80, "containerPort": 80, "protocol": "icmp"}]},
        {"portMappings": [{"hostPort": 80, "containerPort": 80, "hostIP": "nope"}]},
        {
            "portMappings": [
                {"hostPort": 80, "containerPort": 80},
                {"hostPort": 80, "containerPort": 81},
            ]
        },
    ],
)
def test_bad_mappings_are_invalid_network_config(raw: dict[str, Any]) -> None:
    with pytest.raises(CniError) as caught:
        parse_port_mappings(raw)
    assert caught.value.code == 7
