"""kindnet's plugin chain (ptp + host-local, optionally + portmap) as a reference target."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tools.cniexec import NetworkConfigList, parse_conflist

REFERENCE_KINDS = ("ptp", "ptp-portmap")
REFERENCE_NETWORK = "kindnet"
DEFAULT_REFERENCE_SUBNET = "10.245.0.0/24"  # outside podnet's cluster CIDR 10.244.0.0/16
DEFAULT_REFERENCE_CNI_VERSION = "1.0.0"  # kindnet writes 0.3.1; 1.0.0 has CHECK and prevResult
REFERENCE_BIN_DIR = "/usr/lib/cni"


def reference_conflist_document(
    kind: str, subnet: str, data_dir: Path, cni_version: str
) -> dict[str, Any]:
    """The walkthrough's 10-kindnet.conflist with host-local state kept in data_dir."""
    if kind not in REFERENCE_KINDS:
        raise ValueError(f"unknown reference chain {kind!r}")
    plugins: list[dict[str, Any]] = [
        {
            "type": "ptp",
            "ipMasq": False,
            "ipam": {
                "type": "host-local",
                "dataDir": str(data_dir),
                "routes": [{"dst": "0.0.0.0/0"}],
                "ranges": [[{"subnet": subnet}]],
            },
            "mtu": 1500,
        }
    ]
    if kind == "ptp-portmap":
        plugins.append({"type": "portmap", "capabilities": {"portMappings": True}})
    return {"cniVersion": cni_version, "name": REFERENCE_NETWORK, "plugins": plugins}


def reference_conflist(
    kind: str,
    subnet: str = DEFAULT_REFERENCE_SUBNET,
    data_dir: Path = Path("/run/cni-ipam-state"),
    cni_version: str = DEFAULT_REFERENCE_CNI_VERSION,
) -> NetworkConfigList:
    document = reference_conflist_document(kind, subnet, data_dir, cni_version)
    return parse_conflist(json.dumps(document), f"<reference {kind}>")
