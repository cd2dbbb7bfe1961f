"""Writes the seed corpora of the C shim's fuzz targets (cni_shim/native/fuzz/corpus/).

Usage: .venv/bin/python scripts/fuzz_seeds.py
Seeds are what each parser meets in real use: network configurations as runtimes send
them, the header blocks and replies of a real grpcio server (captured here from one on a
temporary unix socket) and of the scripted peer in tests/shim, and CniOutcome messages.
Crash inputs found later are added beside them by hand (named crash-*), never rewritten.
"""

from __future__ import annotations

import json
import socket
import sys
import tempfile
import time
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
from podnet.shim.wire import encode_outcome
from podnet.v1 import cni_pb2, cni_pb2_grpc

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from cni_shim.hpack import encode_literal_headers
from cni_shim.transport import (
    CONTINUATION,
    DATA,
    FLAG_END_HEADERS,
    FLAG_END_STREAM,
    FLAG_PADDED,
    HEADERS,
    PING,
    PREFACE,
    SETTINGS,
    WINDOW_UPDATE,
    frame,
)
from tests.shim.scripted_http2 import padded, response_blocks

CORPUS = Path(__file__).resolve().parent.parent / "cni_shim" / "native" / "fuzz" / "corpus"
REPLY = b'{"cniVersion":"1.1.0","interfaces":[{"name":"eth0","sandbox":"/run/netns/p"}]}'


class FixedAgent(cni_pb2_grpc.CniAgentServicer):
    def Invoke(self, request: cni_pb2.CniInvocation, context: Any) -> cni_pb2.CniOutcome:
        if request.command == "CHECK":
            context.abort(grpc.StatusCode.UNAVAILABLE, "agent is fenced (ünavailable)")
        return cni_pb2.CniOutcome(exit_code=0, stdout=REPLY)


def grpcio_response(command: str) -> bytes:
    """Everything a grpcio server sends on a fresh connection for one Invoke call."""
    with tempfile.TemporaryDirectory(prefix="pnseed-", dir="/tmp") as scratch:
        path = f"{scratch}/agent.sock"
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
        cni_pb2_grpc.add_CniAgentServicer_to_server(FixedAgent(), server)
        server.add_insecure_port(f"unix:{path}")
        server.start()
        try:
            message = cni_pb2.CniInvocation(command=command, container_id="c1").SerializeToString()
            headers = encode_literal_headers(
                [(b":method", b"POST"), (b":scheme", b"http"),
                 (b":path", b"/podnet.v1.CniAgent/Invoke"), (b":authority", b"localhost"),
                 (b"content-type", b"application/grpc"), (b"te", b"trailers")]
            )  # fmt: skip
            request = (
                PREFACE
                + frame(SETTINGS, 0, 0)
                + frame(HEADERS, FLAG_END_HEADERS, 1, headers)
                + frame(DATA, FLAG_END_STREAM, 1, b"\0" + len(message).to_bytes(4, "big") + message)
            )
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
                connection.connect(path)
                connection.sendall(request)
                connection.settimeout(0.5)
                received = b""
                deadline = time.monotonic() + 3
                while time.monotonic() < deadline:
                    try:
                        chunk = connection.recv(65536)
                    except TimeoutError:
                        break
                    if not chunk:
                        break
                    received += chunk
            return received
        finally:
            server.stop(0)


def frames_of(stream: bytes) -> list[bytes]:
    frames = []
    while len(stream) >= 9:
        size = 9 + int.from_bytes(stream[:3], "big")
        frames.append(stream[:size])
        stream = stream[size:]
    return frames


def header_blocks(stream: bytes) -> list[bytes]:
    return [f[9:] for f in frames_of(stream) if f[3] == HEADERS]


def scripted_response() -> bytes:
    headers, message, trailers = response_blocks(REPLY, 3)
    split = len(headers) // 2
    return (
        frame(SETTINGS, 0, 0, (0x4).to_bytes(2, "big") + (1 << 20).to_bytes(4, "big"))
        + frame(PING, 0, 0, b"podnet!!")
        + frame(WINDOW_UPDATE, 0, 0, (1 << 20).to_bytes(4, "big"))
        + frame(WINDOW_UPDATE, 0, 1, (1 << 20).to_bytes(4, "big"))
        + frame(HEADERS, FLAG_PADDED, 1, padded(headers[:split], 3))
        + frame(CONTINUATION, FLAG_END_HEADERS, 1, headers[split:])
        + frame(DATA, FLAG_PADDED, 1, padded(message[:7], 20))
        + frame(DATA, 0, 1, message[7:])
        + frame(HEADERS, FLAG_END_HEADERS | FLAG_END_STREAM, 1, trailers)
    )


def config_seeds() -> dict[str, bytes]:
    base = {"cniVersion": "1.1.0", "name": "podnet", "type": "podnet"}
    full = {
        **base,
        "agentSocket": "/run/podnet/agent.sock",
        "spoolDir": "/var/lib/podnet/spool",
        "timeoutSeconds": 2.5,
        "mtu": 1450,
        "runtimeConfig": {"portMappings": [{"hostPort": 8080, "containerPort": 80}]},
        "prevResult": {"cniVersion": "1.1.0", "interfaces": [{"name": "eth0"}], "ips": []},
    }
    return {
        "minimal": json.dumps(base).encode(),
        "full": json.dumps(full, indent=1).encode(),
        "escapes": b'{"agentSocket":"/run/\\u00e9\\ud83d\\ude00\\"\\\\\\/\\b\\f\\n\\r\\t.sock",'
        b'"cniVersion":"1.0.0","timeoutSeconds":1e1}',
        "nul": b'{"agentSocket":"/run/a\\u0000b","spoolDir":"/x"}',
        "surrogate": b'{"spoolDir":"/x/\\udc80","timeoutSeconds":-1}',
        "nested": b'{"a":[{"b":"]}"},[[]]],"c":{"d":{}},"timeoutSeconds":1e999}',
        "utf8": '{"name":"é✓😀","agentSocket":"/run/é.sock"}'.encode(),
    }


def write(target: str, name: str, data: bytes) -> None:
    directory = CORPUS / target
    directory.mkdir(parents=True, exist_ok=True)
    (directory / name).write_bytes(data)


def main() -> None:
    for name, data in config_seeds().items():
        write("config", name, data)
    scripted = scripted_response()
    ok, failed = grpcio_response("ADD"), grpcio_response("CHECK")
    for name, stream in (("grpcio-ok", ok), ("grpcio-error", failed), ("scripted", scripted)):
        write("http2", name, stream)
        blocks = header_blocks(stream)
        for index, block in enumerate(blocks):
            write("hpack", f"{name}-block{index}", b"\xff" + block)
        if len(blocks) > 1:  # the trailers refer to entries the headers inserted
            split = round(len(blocks[0]) * 255 / (len(blocks[0]) + len(blocks[1])))
            write("hpack", f"{name}-both", bytes((split,)) + blocks[0] + blocks[1])
    rfc_7541_c4 = bytes.fromhex("828684418cf1e3c2e5f23a6ba0ab90f4ff828684be5886a8eb10649cbf")
    write("hpack", "rfc7541-c4", b"\x80" + rfc_7541_c4)
    for name, (exit_code, stdout) in {
        "ok": (0, REPLY),
        "error": (7, b'{"code":7,"msg":"bad"}'),
        "negative": (-1, b""),
    }.items():
        write("protobuf", name, encode_outcome(exit_code, stdout))
    unknown_fields = b"\x48\x05" + b"\x52\x02hi" + b"\x5d\0\0\0\0"
    write("protobuf", "unknown-fields", encode_outcome(3, b"out") + unknown_fields)


if __name__ == "__main__":
    main()
