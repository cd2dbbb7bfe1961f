"""config_scan reads top-level scalars exactly as json.loads does."""

from __future__ import annotations

import json
from typing import Any

import pytest
from podnet.shim.defaults import DEFAULT_AGENT_SOCKET

from cni_shim.config_scan import NESTED, ConfigScanError, top_level_members
from cni_shim.settings import MAX_CONFIG_BYTES, MAX_TIMEOUT_SECONDS, read_shim_settings

DOCUMENTS = [
    "{}",
    ' { "a" : 1 , "b":-2.5e3, "c":true,"d":false,"e":null } ',
    '{"s":"quote \\" backslash \\\\ slash \\/ \\b\\f\\n\\r\\t","u":"\\u00e9\\ud83d\\ude00"}',
    '{"nested":{"x":"}]{[","y":[1,{"z":"\\"}"}],"w":{}},"after":"ok"}',
    '{"k":"é✓😀 raw utf-8","dup":1,"dup":2}',
    '{"agentSocket":"/run/a b.sock","timeoutSeconds":3,"arr":[[],[[]]]}',
]


@pytest.mark.parametrize("text", DOCUMENTS)
def test_agrees_with_json(text: str) -> None:
    expected: dict[str, Any] = json.loads(text)
    members = top_level_members(text)
    assert list(members) == list(expected)
    for key, value in expected.items():
        if isinstance(value, dict | list):
            assert members[key] is NESTED
        else:
            assert members[key] == value


@pytest.mark.parametrize(
    "text",
    ["", "[]", "{", '{"a"}', '{"a":}', '{"a":1,}', '{"a":"x}', '{"a":1} x', '{"a":[}',
     '{"a":"\\u+123"}', '{"a":"\\u 12 "}', '{"a":"\\u12"}', '{"a":"\\u-001"}', '{"a":--1}'],
)  # fmt: skip
def test_malformed_is_rejected(text: str) -> None:
    with pytest.raises(ConfigScanError):
        top_level_members(text)


def test_settings_from_config() -> None:
    settings = read_shim_settings(
        b'{"cniVersion":"0.4.0","agentSocket":"/x.sock","spoolDir":"/s","timeoutSeconds":2,'
        b'"prevResult":{"agentSocket":"/nested-is-ignored"}}'
    )
    assert settings.agent_socket == "/x.sock"
    assert settings.spool_dir == "/s"
    assert settings.timeout_for("ADD") == 2
    assert settings.cni_version == "0.4.0"


@pytest.mark.parametrize(
    "config", [b"garbage", b'{"agentSocket":5,"timeoutSeconds":true}', b'{"timeoutSeconds":-1}']
)
def test_settings_fall_back_to_defaults(config: bytes) -> None:
    settings = read_shim_settings(config)
    assert settings.agent_socket == DEFAULT_AGENT_SOCKET
    assert settings.timeout_for("ADD") == 30
    assert settings.timeout_for("STATUS") == 5


def test_numbers_are_floats_of_any_length() -> None:
    members = top_level_members('{"a":3,"b":' + "9" * 5000 + ',"c":-0.5e1}')
    assert members == {"a": 3.0, "b": float("inf"), "c": -5.0}
    assert all(type(value) is float for value in members.values())


@pytest.mark.parametrize(
    ("config", "code", "details"),
    [
        (b"{}" + b" " * MAX_CONFIG_BYTES, 6, "more than 1048576 bytes on stdin"),
        (b'{"a":"\xc3"}', 6, "not UTF-8 at byte 6"),
        (b'{"agentSocket":"/a\\u0000"}', 7, "agentSocket contains a NUL character"),
        (b'{"spoolDir":"/s\\udfff"}', 7, "spoolDir is not valid Unicode"),
    ],
)
def test_settings_the_shim_answers_itself(config: bytes, code: int, details: str) -> None:
    error = read_shim_settings(config).error
    assert error is not None
    assert (error[0], error[2]) == (code, details)


def test_timeout_is_capped() -> None:
    assert read_shim_settings(b'{"timeoutSeconds":1e300}').timeout_seconds == MAX_TIMEOUT_SECONDS
