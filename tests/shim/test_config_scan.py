"""config_scan reads top-level scalars exactly as json.loads does."""

from __future__ import annotations

import json
from typing import Any

import pytest
from podnet.shim.defaults import DEFAULT_AGENT_SOCKET

from cni_shim.config_scan import NESTED, ConfigScanError, top_level_members
from cni_shim.settings import read_shim_settings

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
    "text", ["", "[]", "{", '{"a"}', '{"a":}', '{"a":1,}', '{"a":"x}', '{"a":1} x', '{"a":[}']
)
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
