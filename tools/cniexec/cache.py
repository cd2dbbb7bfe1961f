"""A result cache like libcni's: one file per (network, container id, ifname).

ADD stores its final result (and the runtime conf it was made with) so that
DEL and CHECK can hand it to plugins as prevResult, even from another process.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CACHE_KIND = "podnet-cniexec-cache-v1"


@dataclass(frozen=True)
class CachedAttachment:
    network_name: str
    container_id: str
    ifname: str
    netns: str
    cni_args: str
    capability_args: Mapping[str, Any]
    result: Mapping[str, Any]


class ResultCache:
    def __init__(self, cache_dir: Path | str) -> None:
        self.results_dir = Path(cache_dir) / "results"

    def path_for(self, network_name: str, container_id: str, ifname: str) -> Path:
        return self.results_dir / f"{network_name}-{container_id}-{ifname}"

    def store(self, attachment: CachedAttachment) -> None:
        self.results_dir.mkdir(parents=True, exist_ok=True)
        document = {
            "kind": CACHE_KIND,
            "networkName": attachment.network_name,
            "containerId": attachment.container_id,
            "ifName": attachment.ifname,
            "netns": attachment.netns,
            "cniArgs": attachment.cni_args,
            "capabilityArgs": dict(attachment.capability_args),
            "result": dict(attachment.result),
        }
        target = self.path_for(attachment.network_name, attachment.container_id, attachment.ifname)
        fd, temporary = tempfile.mkstemp(dir=self.results_dir, prefix=".tmp-")
        try:
            with os.fdopen(fd, "w") as handle:
                json.dump(document, handle)
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise

    def load(self, network_name: str, container_id: str, ifname: str) -> CachedAttachment | None:
        """The cached attachment, or None when absent or unreadable."""
        path = self.path_for(network_name, container_id, ifname)
        try:
            document = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        if not isinstance(document, dict) or document.get("kind") != CACHE_KIND:
            return None
        result = document.get("result")
        if not isinstance(result, dict):
            return None
        return CachedAttachment(
            network_name=str(document.get("networkName", network_name)),
            container_id=str(document.get("containerId", container_id)),
            ifname=str(document.get("ifName", ifname)),
            netns=str(document.get("netns", "")),
            cni_args=str(document.get("cniArgs", "")),
            capability_args=dict(document.get("capabilityArgs") or {}),
            result=result,
        )

    def remove(self, network_name: str, container_id: str, ifname: str) -> None:
        self.path_for(network_name, container_id, ifname).unlink(missing_ok=True)
