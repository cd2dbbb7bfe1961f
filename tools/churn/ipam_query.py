"""Lists ipamd's pod IP allocations as JSON lines; run inside the namespace ipamd serves.

Usage: python -m tools.churn.ipam_query --address HOST:PORT
       [--cacert CA --cert CERT --key KEY] NODE [NODE ...]

With a certificate (an admin identity: nodes may only list their own), over mutual TLS;
without, plaintext (an ipamd started with --insecure-plaintext).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import grpc
from podnet.tls.errors import TlsError
from podnet.tls.files import TlsFiles
from podnet.tls.grpc_credentials import channel_credentials_from_files
from podnet.v1 import ipam_pb2, ipam_pb2_grpc


def _channel(address: str, tls: TlsFiles | None) -> grpc.Channel:
    if tls is None:
        return grpc.insecure_channel(address)
    return grpc.secure_channel(address, channel_credentials_from_files(tls))


def list_allocations(
    address: str, nodes: Sequence[str], timeout: float, tls: TlsFiles | None = None
) -> list[dict[str, str]]:
    found = []
    with _channel(address, tls) as channel:
        stub = ipam_pb2_grpc.IpamStub(channel)
        for node in nodes:
            reply = stub.ListAllocations(
                ipam_pb2.ListAllocationsRequest(node=node), timeout=timeout
            )
            found += [
                {"node": node, "ip": item.address, "container_id": item.container_id}
                for item in reply.allocations
            ]
    return found


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.churn.ipam_query")
    parser.add_argument("--address", required=True)
    parser.add_argument("--timeout", type=float, default=10.0)
    parser.add_argument("--cacert", type=Path, help="the podnet CA bundle")
    parser.add_argument("--cert", type=Path, help="an admin certificate")
    parser.add_argument("--key", type=Path, help="the key of --cert")
    parser.add_argument("nodes", nargs="+")
    args = parser.parse_args(argv)
    given = (args.cacert, args.cert, args.key)
    if any(given) and not all(given):
        parser.error("--cacert, --cert and --key go together")
    tls = TlsFiles(args.cacert, args.cert, args.key) if all(given) else None
    try:
        allocations = list_allocations(args.address, args.nodes, args.timeout, tls)
    except (grpc.RpcError, TlsError) as error:
        print(f"ListAllocations failed: {error}", file=sys.stderr)
        return 1
    for allocation in allocations:
        print(json.dumps(allocation))
    return 0


if __name__ == "__main__":
    sys.exit(main())
