"""parse_request: every bad input gets the code libcni's skeleton would give."""

from __future__ import annotations

import json
from typing import Any

import pytest
from podnet.shim.versions import SUPPORTED_VERSIONS

from netagent.cni.errors import CniError, ErrorCode
from netagent.cni.request import ValidAttachment, parse_cni_args, parse_request

BASE_CONFIG: dict[str, Any] = {"cniVersion": "1.1.0", "name": "podnet", "type": "podnet"}
PREV_RESULT = {"cniVersion": "1.1.0", "interfaces": [{"name": "eth0"}], "ips": []}
ENV = {
    "container_id": "c0ffee",
    "netns": "/run/netns/pod",
    "ifname": "eth0",
    "args": "",
    "path": "/opt/cni/bin",
}


def call(command: str, config: dict[str, Any] | bytes | None = None, **env: str) -> Any:
    raw = config if isinstance(config, bytes) else json.dumps(config or BASE_CONFIG).encode()
    values = {**ENV, **env}
    return parse_request(
        command,
        container_id=values["container_id"],
        netns=values["netns"],
        ifname=values["ifname"],
        args=values["args"],
        path=values["path"],
        config=raw,
    )


def code_of(command: str, config: dict[str, Any] | bytes | None = None, **env: str) -> int:
    with pytest.raises(CniError) as caught:
        call(command, config, **env)
    return caught.value.code


def with_config(**changes: Any) -> dict[str, Any]:
    config = {**BASE_CONFIG, **changes}
    return {key: value for key, value in config.items() if value is not None}


BAD_INPUTS = [
    ("unknown command", "FROB", None, {}, ErrorCode.INVALID_ENVIRONMENT_VARIABLES),
    ("empty command", "", None, {}, ErrorCode.INVALID_ENVIRONMENT_VARIABLES),
    ("ADD no container id", "ADD", None, {"container_id": ""}, 4),
    ("ADD no netns", "ADD", None, {"netns": ""}, 4),
    ("ADD no ifname", "ADD", None, {"ifname": ""}, 4),
    ("CHECK no netns", "CHECK", None, {"netns": ""}, 4),
    ("DEL no container id", "DEL", None, {"container_id": ""}, 4),
    ("DEL no ifname", "DEL", None, {"ifname": ""}, 4),
    ("GC no CNI_PATH", "GC", None, {"path": ""}, 4),
    ("malformed JSON", "ADD", b"{not json", {}, ErrorCode.DECODING_FAILURE),
    ("not UTF-8", "ADD", b"\xff\xfe", {}, 6),
    ("JSON but not an object", "ADD", b"[1,2]", {}, 6),
    ("cniVersion not a string", "ADD", with_config(cniVersion=1), {}, 6),
    ("missing name", "ADD", with_config(name=None), {}, ErrorCode.INVALID_NETWORK_CONFIG),
    ("empty name", "DEL", with_config(name=""), {}, 7),
    ("name with slash", "ADD", with_config(name="a/b"), {}, 7),
    ("missing type", "ADD", with_config(type=None), {}, 7),
    ("missing cniVersion", "ADD", with_config(cniVersion=None), {}, 1),
    ("unknown cniVersion", "ADD", with_config(cniVersion="9.9.9"), {}, 1),
    ("0.2.0 unsupported", "ADD", with_config(cniVersion="0.2.0"), {}, 1),
    ("CHECK below 0.4.0", "CHECK", with_config(cniVersion="0.3.1", prevResult=PREV_RESULT), {}, 1),
    ("GC below 1.1.0", "GC", with_config(cniVersion="1.0.0"), {}, 1),
    ("STATUS below 1.1.0", "STATUS", with_config(cniVersion="0.4.0"), {}, 1),
    ("CHECK without prevResult", "CHECK", None, {}, 7),
    ("prevResult not object", "DEL", with_config(prevResult=[1]), {}, 7),
    ("runtimeConfig not object", "ADD", with_config(runtimeConfig="x"), {}, 7),
    ("mtu not int", "ADD", with_config(mtu="1500"), {}, 7),
    ("mtu bool", "ADD", with_config(mtu=True), {}, 7),
    ("mtu too small", "ADD", with_config(mtu=10), {}, 7),
    ("agentSocket not string", "ADD", with_config(agentSocket=5), {}, 7),
    ("attachments not list", "GC", with_config(**{"cni.dev/valid-attachments": {}}), {}, 7),
    (
        "attachment without ifname",
        "GC",
        with_config(**{"cni.dev/valid-attachments": [{"containerID": "a"}]}),
        {},
        7,
    ),
    ("container id leading dash", "ADD", None, {"container_id": "-abc"}, 4),
    ("container id with slash", "DEL", None, {"container_id": "a/b"}, 4),
    (
        "container id with space",
        "CHECK",
        with_config(prevResult=PREV_RESULT),
        {"container_id": "a b"},
        4,
    ),
    ("ifname 16 bytes", "ADD", None, {"ifname": "a" * 16}, 4),
    ("ifname 15 bytes multibyte overflow", "ADD", None, {"ifname": "é" * 8}, 4),
    ("ifname dot", "ADD", None, {"ifname": "."}, 4),
    ("ifname dotdot", "DEL", None, {"ifname": ".."}, 4),
    ("ifname slash", "ADD", None, {"ifname": "a/b"}, 4),
    ("ifname colon", "ADD", None, {"ifname": "eth0:1"}, 4),
    ("ifname space", "ADD", None, {"ifname": "eth 0"}, 4),
    ("ifname tab", "ADD", None, {"ifname": "eth\t0"}, 4),
    ("CNI_ARGS unknown key", "ADD", None, {"args": "FOO=bar"}, 4),
    ("CNI_ARGS malformed pair", "ADD", None, {"args": "K8S_POD_NAME"}, 4),
    ("CNI_ARGS two equals", "ADD", None, {"args": "K8S_POD_NAME=a=b"}, 4),
    ("CNI_ARGS trailing semicolon", "ADD", None, {"args": "K8S_POD_NAME=a;"}, 4),
    ("CNI_ARGS bad IgnoreUnknown", "ADD", None, {"args": "IgnoreUnknown=maybe"}, 4),
    ("CNI_ARGS IgnoreUnknown=0", "ADD", None, {"args": "IgnoreUnknown=0;FOO=1"}, 4),
]


@pytest.mark.parametrize(
    ("command", "config", "env", "expected"),
    [case[1:] for case in BAD_INPUTS],
    ids=[case[0] for case in BAD_INPUTS],
)
def test_bad_input_gets_the_right_code(
    command: str, config: dict[str, Any] | bytes | None, env: dict[str, str], expected: int
) -> None:
    assert code_of(command, config, **env) == expected


def test_environment_checked_before_config_decoding() -> None:
    assert code_of("ADD", b"{garbage", container_id="") == ErrorCode.INVALID_ENVIRONMENT_VARIABLES


def test_missing_variables_are_all_named() -> None:
    with pytest.raises(CniError) as caught:
        call("ADD", container_id="", netns="")
    assert caught.value.msg == "required env variables [CNI_CONTAINERID,CNI_NETNS] missing"


@pytest.mark.parametrize("version", SUPPORTED_VERSIONS)
def test_add_accepted_for_every_supported_version(version: str) -> None:
    request = call("ADD", with_config(cniVersion=version))
    assert request.config.cni_version == version


def test_del_accepts_empty_netns_and_no_prev_result() -> None:
    request = call("DEL", netns="", path="")
    assert request.netns == ""
    assert request.config.prev_result is None


@pytest.mark.parametrize("command", ["STATUS", "GC"])
def test_status_and_gc_need_no_attachment_env(command: str) -> None:
    request = call(command, container_id="", netns="", ifname="", args="")
    assert request.command == command
    assert request.container_id == ""


def test_check_with_prev_result() -> None:
    request = call("CHECK", with_config(cniVersion="0.4.0", prevResult=PREV_RESULT))
    assert request.config.prev_result is not None
    assert request.config.prev_result["interfaces"] == [{"name": "eth0"}]


def test_full_request_fields() -> None:
    config = with_config(
        mtu=1450,
        agentSocket="/run/x.sock",
        spoolDir="/var/spool/x",
        runtimeConfig={"portMappings": [{"hostPort": 80}]},
        capabilities={"portMappings": True},
    )
    request = call(
        "ADD",
        config,
        args="K8S_POD_UID=u-1;K8S_POD_NAME=web;K8S_POD_NAMESPACE=default;K8S_POD_INFRA_CONTAINER_ID=c0ffee",
    )
    assert request.pod.namespace == "default"
    assert request.pod.name == "web"
    assert request.pod.uid == "u-1"
    assert request.cni_args["K8S_POD_INFRA_CONTAINER_ID"] == "c0ffee"
    assert request.config.mtu == 1450
    assert request.config.agent_socket == "/run/x.sock"
    assert request.config.spool_dir == "/var/spool/x"
    assert request.config.runtime_config["portMappings"] == [{"hostPort": 80}]
    assert request.config.raw["capabilities"] == {"portMappings": True}
    assert (request.container_id, request.ifname) == ("c0ffee", "eth0")
    with pytest.raises(TypeError):
        request.cni_args["x"] = "y"


CNI_ARGS_CASES = [
    ("", {}),
    ("K8S_POD_NAME=a", {"K8S_POD_NAME": "a"}),
    ("K8S_POD_NAME=", {"K8S_POD_NAME": ""}),
    ("IgnoreUnknown=1;FOO=bar", {"IgnoreUnknown": "1", "FOO": "bar"}),
    ("FOO=bar;IgnoreUnknown=true", {"FOO": "bar", "IgnoreUnknown": "true"}),
    ("IgnoreUnknown=TRUE;X=1", {"IgnoreUnknown": "TRUE", "X": "1"}),
    ("K8S_POD_NAME=a;K8S_POD_NAME=b", {"K8S_POD_NAME": "b"}),
]


@pytest.mark.parametrize(("raw", "expected"), CNI_ARGS_CASES)
def test_cni_args_parsing(raw: str, expected: dict[str, str]) -> None:
    assert parse_cni_args(raw) == expected


ATTACHMENTS = [{"containerID": "a1", "ifname": "eth0"}, {"containerID": "b2", "ifname": "net1"}]


@pytest.mark.parametrize("key", ["cni.dev/valid-attachments", "cni.dev/attachments"])
def test_gc_attachments_both_spellings(key: str) -> None:
    request = call("GC", with_config(**{key: ATTACHMENTS}))
    assert request.config.valid_attachments == (
        ValidAttachment("a1", "eth0"),
        ValidAttachment("b2", "net1"),
    )


def test_gc_new_spelling_wins_over_old() -> None:
    config = with_config(
        **{"cni.dev/valid-attachments": ATTACHMENTS[:1], "cni.dev/attachments": ATTACHMENTS}
    )
    assert call("GC", config).config.valid_attachments == (ValidAttachment("a1", "eth0"),)


def test_gc_without_attachments_is_empty_list() -> None:
    assert call("GC").config.valid_attachments == ()


def test_raw_args_and_config_kept() -> None:
    raw = json.dumps(BASE_CONFIG).encode()
    request = call("DEL", raw, args="K8S_POD_NAME=web")
    assert request.raw_args == "K8S_POD_NAME=web"
    assert request.raw_config == raw
