"""wire.py agrees byte-for-byte with the generated protobuf classes."""

from __future__ import annotations

import pytest
from podnet.shim.wire import (
    Invocation,
    WireError,
    decode_invocation,
    decode_outcome,
    encode_invocation,
    encode_outcome,
)
from podnet.v1 import cni_pb2

INVOCATIONS = [
    Invocation(""),
    Invocation("STATUS"),
    Invocation("ADD", "c0ffee", "/run/netns/p", "eth0", "K8S_POD_NAME=ü", "/opt/cni/bin", b"{}"),
    Invocation("DEL", "x" * 300, "", "eth0", config=bytes(range(256)) * 400, replayed=True),
]


def as_message(invocation: Invocation) -> cni_pb2.CniInvocation:
    return cni_pb2.CniInvocation(
        command=invocation.command,
        container_id=invocation.container_id,
        netns=invocation.netns,
        ifname=invocation.ifname,
        args=invocation.args,
        path=invocation.path,
        config=invocation.config,
        replayed=invocation.replayed,
    )


def test_every_proto_field_is_covered() -> None:
    proto_fields = {f.name: f.number for f in cni_pb2.CniInvocation.DESCRIPTOR.fields}
    assert proto_fields == {
        "command": 1, "container_id": 2, "netns": 3, "ifname": 4,
        "args": 5, "path": 6, "config": 7, "replayed": 8,
    }  # fmt: skip
    assert set(proto_fields) == set(Invocation.__slots__)
    outcome_fields = {f.name: f.number for f in cni_pb2.CniOutcome.DESCRIPTOR.fields}
    assert outcome_fields == {"exit_code": 1, "stdout": 2}


@pytest.mark.parametrize("invocation", INVOCATIONS)
def test_invocation_bytes_match_generated(invocation: Invocation) -> None:
    ours = encode_invocation(invocation)
    assert ours == as_message(invocation).SerializeToString(deterministic=True)
    assert decode_invocation(ours) == invocation
    assert cni_pb2.CniInvocation.FromString(ours) == as_message(invocation)


@pytest.mark.parametrize("exit_code", [0, 1, 7, 255, 1 << 20, -1, -(1 << 31), (1 << 31) - 1])
@pytest.mark.parametrize("stdout", [b"", b'{"cniVersion":"1.1.0"}', b"\x00" * 70_000])
def test_outcome_bytes_match_generated(exit_code: int, stdout: bytes) -> None:
    generated = cni_pb2.CniOutcome(exit_code=exit_code, stdout=stdout).SerializeToString()
    assert encode_outcome(exit_code, stdout) == generated
    assert decode_outcome(generated) == (exit_code, stdout)


def test_unknown_fields_are_skipped() -> None:
    data = encode_outcome(3, b"out") + b"\x48\x05" + b"\x52\x02hi" + b"\x5d\x00\x00\x00\x00"
    assert decode_outcome(data) == (3, b"out")


@pytest.mark.parametrize("data", [b"\x12\x05ab", b"\x08", b"\x0b", b"\x08" + b"\xff" * 11])
def test_truncated_or_invalid_is_rejected(data: bytes) -> None:
    with pytest.raises(WireError):
        decode_outcome(data)
