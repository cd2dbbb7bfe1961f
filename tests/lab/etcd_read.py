"""Reads every key under a prefix of the lab's etcd, from inside a namespace of the lab, as
whoever the given credentials make the caller; prints {key: [value, mod_revision]} as
JSON, or the gRPC status on one line and exit 1.

Usage: python -m tests.lab.etcd_read ADDRESS PREFIX [--ca CA [--cert CERT --key KEY]]
(no --ca: plaintext; --ca alone: TLS without a client certificate)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

import grpc
from aetcd import rpc

from ipamd.etcd_connection import prefix_end


def credentials(args: argparse.Namespace) -> grpc.ChannelCredentials | None:
    if args.ca is None:
        return None
    ca = args.ca.read_bytes()
    if args.cert is None:
        return grpc.ssl_channel_credentials(ca)
    return grpc.ssl_channel_credentials(ca, args.key.read_bytes(), args.cert.read_bytes())


async def read(address: str, prefix: str, tls: grpc.ChannelCredentials | None) -> int:
    channel = (
        grpc.aio.insecure_channel(address) if tls is None else grpc.aio.secure_channel(address, tls)
    )
    async with channel:
        request = rpc.RangeRequest(key=prefix.encode(), range_end=prefix_end(prefix.encode()))
        try:
            reply = await rpc.KVStub(channel).Range(request, timeout=5)
        except grpc.aio.AioRpcError as error:
            print(f"{error.code().name}: {error.details()}", file=sys.stderr)
            return 1
    dump = {kv.key.decode(): [kv.value.decode(), kv.mod_revision] for kv in reply.kvs}
    print(json.dumps(dump, sort_keys=True))
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.lab.etcd_read")
    parser.add_argument("address")
    parser.add_argument("prefix")
    parser.add_argument("--ca", type=Path)
    parser.add_argument("--cert", type=Path)
    parser.add_argument("--key", type=Path)
    args = parser.parse_args()
    return asyncio.run(read(args.address, args.prefix, credentials(args)))


if __name__ == "__main__":
    sys.exit(main())
