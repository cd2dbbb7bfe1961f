"""Lists ipamd's pod IP allocations as JSON lines; run inside the namespace ipamd serves.

Usage: python -m tools.churn.ipam_query --address HOST:PORT NODE [NODE ...]
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

import grpc
from podnet.v1 import ipam_pb2, ipam_pb2_grpc


def list_allocations(address: str, nodes: Sequence[str], timeout: float) -> list[dict[str, str]]:
    found = []
    with grpc.insecure_channel(address) as channel:
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
    parser.add_argument("nodes", nargs="+")
    args = parser.parse_args(argv)
    try:
        allocations = list_allocations(args.address, args.nodes, args.timeout)
    except grpc.RpcError as error:
        print(f"ListAllocations failed: {error}", file=sys.stderr)
        return 1
    for allocation in allocations:
        print(json.dumps(allocation))
    return 0


if __name__ == "__main__":
    sys.exit(main())
