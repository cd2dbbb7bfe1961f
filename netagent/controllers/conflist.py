"""The CNI conflist the agent publishes for runtimes: podnet alone, with host ports.

Written atomically (temp file + rename) and only when its content changes,
so runtimes watching the directory never read a half-written file.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

CONFLIST_CNI_VERSION = "1.0.0"
CONFLIST_CNI_VERSIONS = ["1.0.0", "1.1.0"]
NETWORK_NAME = "podnet"


def render_conflist(
    agent_socket: Path, spool_dir: Path, node_range: str, mtu: int
) -> dict[str, Any]:
    return {
        "cniVersion": CONFLIST_CNI_VERSION,
        "cniVersions": CONFLIST_CNI_VERSIONS,
        "name": NETWORK_NAME,
        "plugins": [
            {
                "type": "podnet",
                "agentSocket": str(agent_socket),
                "spoolDir": str(spool_dir),
                "mtu": mtu,
                "nodeRange": node_range,
                # Host ports are done by the agent itself (nftables maps), not portmap.
                "capabilities": {"portMappings": True},
            },
        ],
    }


def write_if_changed(path: Path, content: dict[str, Any]) -> bool:
    """Returns True when the file was (re)written."""
    data = json.dumps(content, indent=2, sort_keys=False) + "\n"
    try:
        if path.read_text() == data:
            return False
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as temp:
            temp.write(data)
            temp.flush()
            os.fsync(temp.fileno())
        os.chmod(temp_name, 0o644)
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return True


def remove(path: Path) -> None:
    path.unlink(missing_ok=True)
