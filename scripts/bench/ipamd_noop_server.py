"""A grpc.aio server answering AllocatePodIp with a constant and doing nothing else: the
floor any Python gRPC allocator pays per call. Started by ipamd_rate.py.

Usage: .venv/bin/python scripts/bench/ipamd_noop_server.py HOST:PORT
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import grpc
from podnet.v1 import ipam_pb2, ipam_pb2_grpc


class NoopIpam(ipam_pb2_grpc.IpamServicer):
    async def AllocatePodIp(
        self, request: ipam_pb2.AllocatePodIpRequest, context: grpc.aio.ServicerContext[Any, Any]
    ) -> ipam_pb2.PodIpAllocation:
        return ipam_pb2.PodIpAllocation(
            address="10.0.0.2",
            prefix_length=16,
            gateway="10.0.0.1",
            cidr=request.cidr,
            node=request.node,
            container_id=request.container_id,
            ifname=request.ifname,
            pod=request.pod,
        )


async def serve(address: str) -> None:
    server = grpc.aio.server()
    # Only AllocatePodIp is served; the other methods answer UNIMPLEMENTED.
    ipam_pb2_grpc.add_IpamServicer_to_server(NoopIpam(), server)  # type: ignore[abstract]
    server.add_insecure_port(address)
    await server.start()
    print('{"event":"serving"}', flush=True)
    await server.wait_for_termination()


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1]))
