"""Reads ipamd's records from inside the node namespace with grpcurl, as an operator would."""

from __future__ import annotations

import json
import subprocess
from typing import Any

from tests.e2e.single_node import IPAMD_PORT, VENV_BIN, SingleNode
from tools.lab.pki import LabPki


def grpcurl(netns: str, pki: LabPki, method: str, body: dict[str, Any]) -> dict[str, Any]:
    """Calls ipamd with the operator's certificate (nodes may only see their own)."""
    admin = pki.admin()
    done = subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            netns,
            str(VENV_BIN / "grpcurl"),
            *("-cacert", str(admin.ca), "-cert", str(admin.cert), "-key", str(admin.key)),
            "-d",
            json.dumps(body),
            f"127.0.0.1:{IPAMD_PORT}",
            method,
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=20,
    )
    parsed: dict[str, Any] = json.loads(done.stdout or "{}")
    return parsed


def allocations(node: SingleNode) -> dict[tuple[str, str], str]:
    reply = grpcurl(
        node.netns, node.pki, "podnet.v1.Ipam/ListAllocations", {"node": node.node_name}
    )
    return {(a["container_id"], a["ifname"]): a["address"] for a in reply.get("allocations", [])}
