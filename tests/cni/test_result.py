"""ADD results in every version's format, errors, and prevResult normalisation."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import pytest
from podnet.shim.versions import SUPPORTED_VERSIONS

from netagent.cni.errors import CniError, ErrorCode
from netagent.cni.result import (
    AddResult,
    encode_error,
    encode_result,
    parse_prev_result,
    pod_attachment_result,
)

RESULT = pod_attachment_result(
    host_ifname="veth64a505bf",
    host_mac="5e:57:0d:ef:24:76",
    pod_ifname="eth0",
    pod_mac="aa:34:b5:30:78:98",
    sandbox="/run/netns/pod1",
    addresses=[ipaddress.ip_interface("10.244.1.2/24")],
    gateways=[ipaddress.ip_address("10.244.1.1")],
    mtu=1450,
)


def decoded(version: str, result: AddResult = RESULT) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(encode_result(version, result))
    return document


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_result_shape_for_every_version(version: str) -> None:
    document = decoded(version)
    assert document["cniVersion"] == version
    assert list(document) == ["cniVersion", "interfaces", "ips", "routes", "dns"]
    host, pod = document["interfaces"]
    assert host["name"] == "veth64a505bf" and host["mac"] == "5e:57:0d:ef:24:76"
    assert "sandbox" not in host
    assert pod["name"] == "eth0" and pod["mac"] == "aa:34:b5:30:78:98"
    assert pod["sandbox"] == "/run/netns/pod1"
    (ip,) = document["ips"]
    assert ip["address"] == "10.244.1.2/24"
    assert ip["gateway"] == "10.244.1.1"
    assert ip["interface"] == 1
    assert document["routes"] == [{"dst": "0.0.0.0/0"}]
    assert document["dns"] == {}


@pytest.mark.parametrize("version", ["0.3.0", "0.3.1", "0.4.0"])
def test_pre_1_0_ips_carry_version_and_interfaces_no_mtu(version: str) -> None:
    document = decoded(version)
    assert document["ips"][0]["version"] == "4"
    assert all("mtu" not in interface for interface in document["interfaces"])


@pytest.mark.parametrize("version", ["1.0.0", "1.1.0"])
def test_1_x_ips_have_no_version(version: str) -> None:
    assert "version" not in decoded(version)["ips"][0]


def test_interface_mtu_only_in_1_1_0() -> None:
    assert [i.get("mtu") for i in decoded("1.1.0")["interfaces"]] == [1450, 1450]
    assert all("mtu" not in i for i in decoded("1.0.0")["interfaces"])


def test_ipv6_address_gets_version_6_and_default_route() -> None:
    result = pod_attachment_result(
        "veth0", "5e:57:0d:ef:24:76", "eth0", "aa:34:b5:30:78:98", "/run/netns/p",
        [ipaddress.ip_interface("fd00:10:244:1::2/64")],
        [ipaddress.ip_address("fd00:10:244:1::1")],
    )  # fmt: skip
    document = decoded("0.4.0", result)
    assert document["ips"][0]["version"] == "6"
    assert document["routes"] == [{"dst": "::/0"}]


def test_unsupported_version_cannot_be_encoded() -> None:
    with pytest.raises(CniError) as caught:
        encode_result("0.2.0", RESULT)
    assert caught.value.code == ErrorCode.INCOMPATIBLE_CNI_VERSION


def test_encode_error() -> None:
    error = CniError(ErrorCode.ADDRESS_RANGE_EXHAUSTED, "no free address", "10.244.1.0/24")
    assert json.loads(encode_error("0.4.0", error)) == {
        "cniVersion": "0.4.0",
        "code": 100,
        "msg": "no free address",
        "details": "10.244.1.0/24",
    }
    assert json.loads(encode_error("garbage", error))["cniVersion"] == "1.1.0"


def test_error_codes_match_the_spec() -> None:
    expected = {1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 6: 6, 7: 7, 11: 11, 50: 50, 51: 51}
    assert {code.value: int(code) for code in ErrorCode if code < 100} == expected
    assert min(code for code in ErrorCode if code not in expected) == 100


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_prev_result_round_trips_every_version(version: str) -> None:
    prev = decoded(version)
    expected = parse_prev_result(prev, version)
    assert [i.name for i in expected.interfaces] == ["veth64a505bf", "eth0"]
    assert expected.interfaces[1].sandbox == "/run/netns/pod1"
    assert expected.ips[0].address == ipaddress.ip_interface("10.244.1.2/24")
    assert expected.ips[0].gateway == ipaddress.ip_address("10.244.1.1")
    assert expected.ips[0].interface == 1
    assert expected.routes[0].dst == ipaddress.ip_network("0.0.0.0/0")
    mtu = 1450 if version == "1.1.0" else None
    assert expected.interfaces[1].mtu == mtu


def test_prev_result_without_interfaces_as_chained_ipam_gives_it() -> None:
    prev = {"cniVersion": "0.3.1", "ips": [{"version": "4", "address": "10.1.0.5/16"}]}
    expected = parse_prev_result(prev, "0.3.1")
    assert expected.interfaces == ()
    assert expected.ips[0].interface is None


BAD_PREV_RESULTS = [
    {"ips": [{"address": "not-an-ip"}]},
    {"ips": [{"address": "10.0.0.1/24", "version": "6"}]},
    {"ips": [{"address": "10.0.0.1/24", "interface": 3}], "interfaces": [{"name": "eth0"}]},
    {"interfaces": [{"mac": "aa:bb:cc:dd:ee:ff"}]},
    {"interfaces": "eth0"},
    {"routes": [{"gw": "10.0.0.1"}]},
]


@pytest.mark.parametrize("prev", BAD_PREV_RESULTS)
def test_malformed_prev_result_is_code_7(prev: dict[str, Any]) -> None:
    with pytest.raises(CniError) as caught:
        parse_prev_result({"cniVersion": "1.0.0", **prev}, "1.0.0")
    assert caught.value.code == ErrorCode.INVALID_NETWORK_CONFIG


def test_expected_attachment_lookups() -> None:
    expected = parse_prev_result(decoded("1.0.0"), "1.0.0")
    pod = expected.interface_named("eth0")
    assert pod is not None and pod.mac == "aa:34:b5:30:78:98"
    assert expected.interface_named("veth64a505bf") is None
    assert expected.interface_named("veth64a505bf", in_sandbox=False) is not None
    assert expected.addresses_on("eth0") == (ipaddress.ip_interface("10.244.1.2/24"),)
    assert expected.addresses_on("net1") == ()
