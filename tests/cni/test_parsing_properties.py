"""Property tests (hypothesis) for the agent's CNI input parsing: parse_request and
parse_prev_result never fail with anything but a CniError, valid inputs round-trip,
and hostile shapes (deep nesting, huge documents) are answered quickly.

Bounded: a fixed example count per property and no database, so the file adds a
few seconds to the suite and runs the same examples on every machine (derandomize).
"""

from __future__ import annotations

import ipaddress
import json
import time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from podnet.shim.versions import SUPPORTED_VERSIONS

from netagent.cni.errors import CniError
from netagent.cni.request import COMMANDS, KNOWN_CNI_ARGS, parse_request
from netagent.cni.result import (
    AddResult,
    parse_prev_result,
    pod_attachment_result,
    result_document,
)

BOUNDED = settings(
    max_examples=100,
    deadline=None,  # the whole-test time is bounded below instead; CI machines are noisy
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
# For properties whose examples are dear to generate (nested documents, addresses).
FEWER = settings(BOUNDED, max_examples=50)

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=20,
)
# Keys the agent looks at, so arbitrary values land where they matter.
config_keys = st.sampled_from(
    ["cniVersion", "name", "type", "mtu", "agentSocket", "spoolDir", "prevResult",
     "runtimeConfig", "cni.dev/valid-attachments", "cni.dev/attachments", "other"]
)  # fmt: skip
prev_result_keys = st.sampled_from(
    ["cniVersion", "interfaces", "ips", "routes", "dns", "name", "mac", "sandbox", "mtu",
     "address", "gateway", "interface", "version", "dst", "gw"]
)  # fmt: skip
shaped_values = st.recursive(
    json_scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(prev_result_keys | st.text(max_size=5), children, max_size=5)
    ),
    max_leaves=25,
)
commands = st.sampled_from([*COMMANDS, "", "VERSION", "add"])
env_text = st.text(st.characters(codec="utf-8"), max_size=20)  # env values: no surrogates
identifiers = st.from_regex(r"\A[a-zA-Z0-9][a-zA-Z0-9_.\-]{0,30}\Z")


def parse(command: str, config: bytes, env: dict[str, str] | None = None) -> object:
    values = {"container_id": "c1", "netns": "/n", "ifname": "eth0", "args": "", "path": "/p"}
    values.update(env or {})
    return parse_request(
        command,
        values["container_id"],
        values["netns"],
        values["ifname"],
        values["args"],
        values["path"],
        config,
    )


def only_cni_errors(command: str, config: bytes, env: dict[str, str] | None = None) -> None:
    try:
        parse(command, config, env)
    except CniError as error:
        assert 1 <= error.code < 200
        assert isinstance(error.msg, str) and error.msg
        assert isinstance(error.details, str)


@BOUNDED
@given(commands, st.binary(max_size=200))
def test_any_bytes_give_a_request_or_a_cni_error(command: str, config: bytes) -> None:
    only_cni_errors(command, config)


@FEWER
@given(commands, st.dictionaries(config_keys, shaped_values, max_size=8))
def test_any_json_object_gives_a_request_or_a_cni_error(
    command: str, document: dict[str, Any]
) -> None:
    only_cni_errors(command, json.dumps(document).encode())


@BOUNDED
@given(
    commands,
    st.fixed_dictionaries(
        {key: env_text for key in ("container_id", "netns", "ifname", "args", "path")}
    ),
)
def test_any_environment_gives_a_request_or_a_cni_error(command: str, env: dict[str, str]) -> None:
    config = b'{"cniVersion":"1.1.0","name":"podnet","type":"podnet","prevResult":{}}'
    only_cni_errors(command, config, env)


@FEWER
@given(
    command=st.sampled_from(["ADD", "DEL", "CHECK"]),
    version=st.sampled_from([v for v in SUPPORTED_VERSIONS if v >= "0.4.0"]),
    name=identifiers,
    container_id=identifiers,
    ifname=st.from_regex(r"\A[a-z][a-z0-9]{0,14}\Z"),
    pod=st.fixed_dictionaries({key: identifiers for key in KNOWN_CNI_ARGS[1:]}),
    mtu=st.none() | st.integers(68, 65535),
    socket=st.none() | st.from_regex(r"\A/[a-z/]{1,40}\Z"),
)
def test_a_valid_request_round_trips(
    command: str,
    version: str,
    name: str,
    container_id: str,
    ifname: str,
    pod: dict[str, str],
    mtu: int | None,
    socket: str | None,
) -> None:
    document: dict[str, Any] = {"cniVersion": version, "name": name, "type": "podnet"}
    if mtu is not None:
        document["mtu"] = mtu
    if socket is not None:
        document["agentSocket"] = socket
    if command == "CHECK":
        document["prevResult"] = {"cniVersion": version, "interfaces": [], "ips": []}
    config = json.dumps(document).encode()
    args = ";".join(f"{key}={value}" for key, value in pod.items())
    request = parse_request(command, container_id, "/run/netns/p", ifname, args, "/opt", config)
    assert (request.command, request.container_id, request.ifname) == (
        command,
        container_id,
        ifname,
    )
    assert dict(request.cni_args) == pod
    assert (request.pod.namespace, request.pod.name, request.pod.uid) == (
        pod["K8S_POD_NAMESPACE"],
        pod["K8S_POD_NAME"],
        pod["K8S_POD_UID"],
    )
    assert (request.config.cni_version, request.config.name, request.config.mtu) == (
        version,
        name,
        mtu,
    )
    assert request.config.agent_socket == socket
    assert request.raw_config == config and request.raw_args == args
    assert dict(request.config.raw) == document


@FEWER
@given(
    st.dictionaries(prev_result_keys, shaped_values, max_size=6),
    st.sampled_from(SUPPORTED_VERSIONS),
)
def test_any_prev_result_gives_a_result_or_a_cni_error(
    prev_result: dict[str, Any], version: str
) -> None:
    try:
        parsed = parse_prev_result(prev_result, version)
    except CniError as error:
        assert error.code in (1, 7)
    else:
        assert isinstance(parsed, AddResult)


addresses = st.one_of(
    st.builds(
        lambda address, prefix: ipaddress.ip_interface(f"{address}/{prefix}"),
        st.ip_addresses(v=4),
        st.integers(8, 32),
    ),
    st.builds(
        lambda address, prefix: ipaddress.ip_interface(f"{address}/{prefix}"),
        st.ip_addresses(v=6),
        st.integers(16, 128),
    ),
)
macs = st.from_regex(r"\A([0-9a-f]{2}:){5}[0-9a-f]{2}\Z")


@FEWER
@given(
    version=st.sampled_from(SUPPORTED_VERSIONS),
    pod_addresses=st.lists(addresses, min_size=1, max_size=2),
    host_mac=macs,
    pod_mac=macs,
    mtu=st.none() | st.integers(68, 65535),
)
def test_a_result_round_trips_through_prev_result(
    version: str,
    pod_addresses: list[ipaddress.IPv4Interface | ipaddress.IPv6Interface],
    host_mac: str,
    pod_mac: str,
    mtu: int | None,
) -> None:
    gateways = [address.network.network_address for address in pod_addresses]
    result = pod_attachment_result(
        "veth1234", host_mac, "eth0", pod_mac, "/run/netns/p", pod_addresses, gateways, mtu
    )
    document = json.loads(json.dumps(result_document(version, result)))
    parsed = parse_prev_result(document, version)
    assert parsed.addresses_on("eth0") == tuple(pod_addresses)
    assert [ip.gateway for ip in parsed.ips] == gateways
    assert [(i.name, i.mac, i.sandbox) for i in parsed.interfaces] == [
        ("veth1234", host_mac, ""),
        ("eth0", pod_mac, "/run/netns/p"),
    ]
    assert parsed.routes == result.routes


def test_hostile_shapes_are_answered_quickly() -> None:
    base = b'{"cniVersion":"1.1.0","name":"podnet","type":"podnet","prevResult":'
    hostile = [
        b"[" * 200_000,
        b'{"a":' * 200_000,
        base + b"[" * 100_000 + b"]" * 100_000 + b"}",
        base + b'{"ips":[' + b'{"address":"10.0.0.1/24"},' * 50_000 + b"{}]}}",
        b'{"name":"' + b"x" * 2_000_000 + b'"}',
        b"1" * 10_000,
    ]
    for config in hostile:
        started = time.monotonic()
        only_cni_errors("ADD", config)
        assert time.monotonic() - started < 2, config[:40]
