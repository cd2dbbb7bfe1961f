"""gRPC calls into a running lab under a chosen identity, run inside the lab's bridge
namespace (`ip netns exec <prefix>net python -m tests.podnetctl.lab_calls ...`):

  allocate STATE_DIR NODE CIDR CONTAINER_ID
      AllocatePodIp as the node's agent would (its own certificate; plaintext while the
      lab's podnetctl.json says ipamd serves plaintext); prints the address.
  attachments STATE_DIR ROLE NAME AGENT_ADDRESS
      AgentAdmin.ListAttachments as ROLE/NAME; prints the reply as JSON, or
      {"code": ..., "details": ...} when the call fails.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import grpc
from google.protobuf.json_format import MessageToDict
from podnet.tls.files import TlsFiles, load_material
from podnet.tls.grpc_credentials import channel_credentials
from podnet.tls.identity import Role
from podnet.v1 import agent_admin_pb2, agent_admin_pb2_grpc, ipam_pb2, ipam_pb2_grpc

from podnetctl.certs.store import CertificateStore


def credentials(state_dir: Path, role: Role, name: str) -> grpc.ChannelCredentials:
    store = CertificateStore(state_dir / "pki")
    pair = store.leaf(role, name)
    return channel_credentials(load_material(TlsFiles(store.ca_cert, pair.cert, pair.key)))


def allocate(state_dir: Path, node: str, cidr: str, container_id: str) -> None:
    config = json.loads((state_dir / "podnetctl.json").read_text())
    endpoint = config["ipamd"][0]
    if config.get("ipamd_insecure_plaintext"):
        channel = grpc.insecure_channel(endpoint)
    else:
        channel = grpc.secure_channel(endpoint, credentials(state_dir, Role.NODE, node))
    with channel:
        reply = ipam_pb2_grpc.IpamStub(channel).AllocatePodIp(
            ipam_pb2.AllocatePodIpRequest(
                node=node,
                cidr=cidr,
                container_id=container_id,
                ifname="eth0",
                pod=ipam_pb2.PodRef(k8s_namespace="default", k8s_name="never-wired"),
            ),
            timeout=10,
        )
    print(reply.address)


def attachments(state_dir: Path, role: str, name: str, address: str) -> None:
    with grpc.secure_channel(address, credentials(state_dir, Role(role), name)) as channel:
        try:
            reply = agent_admin_pb2_grpc.AgentAdminStub(channel).ListAttachments(
                agent_admin_pb2.ListAttachmentsRequest(), timeout=10
            )
        except grpc.RpcError as error:
            print(json.dumps({"code": error.code().name, "details": error.details()}))
            return
    print(json.dumps(MessageToDict(reply, preserving_proto_field_name=True)))


def main() -> None:
    command, state_dir, *rest = sys.argv[1:]
    if command == "allocate":
        allocate(Path(state_dir), *rest)
    elif command == "attachments":
        attachments(Path(state_dir), *rest)
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main()
