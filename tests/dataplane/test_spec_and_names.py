"""Pure parts: host veth names, ownership aliases, spec validation, masquerade script."""

from __future__ import annotations

import dataclasses
import re
from ipaddress import IPv4Address, IPv4Interface

import pytest

from netagent.dataplane import InvalidPodNetworkSpec, host_veth_name
from netagent.dataplane.masquerade_rules import masquerade_script, removal_script
from netagent.dataplane.naming import host_veth_alias, is_podnet_alias, parse_host_veth_alias
from tests.dataplane.conftest import CLUSTER_CIDR, POD_RANGE, pod_spec


def test_host_veth_name_is_stable_short_and_distinct() -> None:
    name = host_veth_name("a1b2c3", "eth0")
    assert name == host_veth_name("a1b2c3", "eth0")
    assert re.fullmatch(r"veth[0-9a-f]{8}", name)
    assert len(name) <= 15
    assert name != host_veth_name("a1b2c3", "eth1")
    assert name != host_veth_name("a1b2c4", "eth0")
    # The separator keeps (id, ifname) pairs that concatenate alike apart.
    assert host_veth_name("ab", "ceth0") != host_veth_name("abc", "eth0")


def test_alias_round_trip_and_foreign_aliases() -> None:
    assert parse_host_veth_alias(host_veth_alias("ctr.1-x", "net1")) == ("ctr.1-x", "net1")
    assert is_podnet_alias(host_veth_alias("ctr.1-x", "net1"))
    assert host_veth_alias("", "eth0") == "podnet"
    assert is_podnet_alias("podnet") and parse_host_veth_alias("podnet") is None
    assert not is_podnet_alias("podnetwork") and not is_podnet_alias(None)
    assert parse_host_veth_alias(None) is None
    assert parse_host_veth_alias("uplink to rack 3") is None
    assert parse_host_veth_alias("podnet/") is None
    assert parse_host_veth_alias("podnet/onlyid") is None


def test_spec_derives_the_alias_and_pod_ip() -> None:
    spec = pod_spec("p", 2, container_id="abc")
    assert spec.host_ifname == host_veth_name("abc", "eth0")
    assert spec.host_alias == "podnet/abc/eth0"
    assert dataclasses.replace(spec, container_id="").host_alias == "podnet"
    assert spec.pod_ip == IPv4Address("10.244.1.2")


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        ({"mtu": 67}, "mtu"),
        ({"mtu": 65536}, "mtu"),
        ({"ifname": "a-very-long-ifname"}, "interface name"),
        ({"ifname": ""}, "interface name"),
        ({"host_ifname": "veth0123456789ab"}, "interface name"),
        ({"address": IPv4Interface("10.244.2.2/24")}, "not in range"),
        ({"address": IPv4Interface("10.244.1.2/16")}, "not in range"),
        ({"gateway": IPv4Address("10.244.9.1")}, "gateway"),
        ({"gateway": IPv4Address("10.244.1.2")}, "both"),
    ],
)
def test_contradictory_specs_are_rejected(change: dict[str, object], complaint: str) -> None:
    with pytest.raises(InvalidPodNetworkSpec, match=complaint):
        dataclasses.replace(pod_spec("p", 2), **change)  # type: ignore[arg-type]


def test_masquerade_script_is_one_replacing_transaction() -> None:
    script = masquerade_script("podnet", CLUSTER_CIDR, POD_RANGE)
    lines = [line.strip() for line in script.splitlines()]
    assert lines[:2] == ["add table ip podnet", "delete table ip podnet"]
    assert "ip saddr 10.244.1.0/24 ip daddr != 10.244.0.0/16 counter masquerade" in lines
    assert removal_script("podnet").splitlines() == lines[:2]
