"""The spool the agent replays on start: load and discard."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from podnet.shim.spool import (
    attachment_of_spool_file,
    discard,
    load_spooled,
    spool_del,
    spool_file_name,
)
from podnet.shim.wire import Invocation


def del_for(container_id: str, ifname: str = "eth0", config: bytes = b"{}") -> Invocation:
    return Invocation("DEL", container_id, "", ifname, "", "", config)


def test_load_in_age_order_and_discard(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    first = spool_del(spool, del_for("aaa"))
    second = spool_del(spool, del_for("bbb"))
    os.utime(first, ns=(1_000_000_000, 1_000_000_000))
    (spool / "garbage.del").write_bytes(b"\x0b\xff")  # undecodable: skipped, left in place
    loaded = load_spooled(spool)
    assert [s.invocation.container_id for s in loaded] == ["aaa", "bbb"]
    assert all(s.invocation.replayed for s in loaded)
    discard(loaded[0])
    assert not first.exists()
    assert [s.path for s in load_spooled(spool)] == [second]
    assert (spool / "garbage.del").exists()


def test_load_from_missing_directory_is_empty(tmp_path: Path) -> None:
    assert load_spooled(tmp_path / "never-created") == []


def test_replayed_flag_not_stored(tmp_path: Path) -> None:
    invocation = del_for("ccc")
    invocation.replayed = True
    path = spool_del(tmp_path, invocation)
    assert b"\x40\x01" not in path.read_bytes()[-2:]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]


def test_message_bytes_parse_as_generated_class(tmp_path: Path) -> None:
    from podnet.v1 import cni_pb2

    spool_del(tmp_path, del_for("ddd", config=b'{"name":"podnet"}'))
    (spooled,) = load_spooled(tmp_path)
    message = cni_pb2.CniInvocation.FromString(spooled.message_bytes)
    assert message.container_id == "ddd"
    assert message.config == b'{"name":"podnet"}'
    assert message.replayed is True


@pytest.mark.parametrize(
    ("container_id", "ifname", "name"),
    [
        ("c0ffee", "eth0", "633066666565-65746830.del"),
        ("a-b.c_d", "net-1", "612d622e635f64-6e65742d31.del"),
        ("../x/é", "", "2e2e2f782fc3a9-.del"),
    ],
)
def test_file_name_is_hex_and_reversible(container_id: str, ifname: str, name: str) -> None:
    assert spool_file_name(container_id, ifname) == name
    assert attachment_of_spool_file(name) == (container_id, ifname)


def test_attachment_names_never_collide() -> None:
    # The separator cannot occur in hex, so splitting differently gives another name.
    assert spool_file_name("ab", "c") != spool_file_name("a", "bc")


@pytest.mark.parametrize(
    "name", ["garbage.del", "6162-63.tmp", "6162.del", "AB-63.del", "6g-63.del"]
)
def test_foreign_names_are_rejected(name: str) -> None:
    with pytest.raises(ValueError):
        attachment_of_spool_file(name)
