"""Asks each etcd member for its status; prints one JSON line per member. Runs inside a lab
namespace (the members' addresses are not reachable from the root namespace).

Usage: python -m tools.lab.etcd_probe --ca CA --cert CERT --key KEY NAME=HOST:PORT ...
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc
from aetcd import rpc
from podnet.tls.files import TlsFiles
from podnet.tls.grpc_credentials import channel_credentials_from_files


def member_status(address: str, credentials: grpc.ChannelCredentials, timeout: float) -> Any:
    with grpc.secure_channel(address, credentials) as channel:
        return rpc.MaintenanceStub(channel).Status(rpc.StatusRequest(), timeout=timeout)


def status_line(name: str, address: str, credentials: grpc.ChannelCredentials) -> dict[str, Any]:
    try:
        status = member_status(address, credentials, timeout=2.0)
    except grpc.RpcError as error:
        return {"name": name, "address": address, "error": str(error.details() or error)}
    return {
        "name": name,
        "address": address,
        "member_id": status.header.member_id,
        "leader_id": status.leader,
        "raft_term": status.raftTerm,
        "revision": status.header.revision,
        "db_size": status.dbSize,
        "db_size_in_use": status.dbSizeInUse,
        "errors": list(status.errors),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.lab.etcd_probe")
    parser.add_argument("--ca", type=Path, required=True)
    parser.add_argument("--cert", type=Path, required=True)
    parser.add_argument("--key", type=Path, required=True)
    parser.add_argument("members", nargs="+", metavar="NAME=HOST:PORT")
    args = parser.parse_args(argv)
    credentials = channel_credentials_from_files(TlsFiles(args.ca, args.cert, args.key))
    for member in args.members:
        name, _, address = member.partition("=")
        print(json.dumps(status_line(name, address, credentials)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
