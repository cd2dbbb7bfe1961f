"""The values ipamd stores in etcd, with their canonical JSON encoding. Pure, no I/O.

Encoding is canonical (sorted keys, no spaces) because some transactions
compare a stored value byte for byte with a freshly encoded one.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


def _encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def _decode(raw: bytes) -> dict[str, Any]:
    document = json.loads(raw)
    if not isinstance(document, dict):
        raise ValueError(f"expected a JSON object, got {raw[:80]!r}")
    return document


@dataclass(frozen=True)
class StoredClusterConfig:
    cluster_cidr: str
    node_prefix_length: int

    def encode(self) -> bytes:
        return _encode(
            {"cluster_cidr": self.cluster_cidr, "node_prefix_length": self.node_prefix_length}
        )

    @classmethod
    def decode(cls, raw: bytes) -> StoredClusterConfig:
        doc = _decode(raw)
        return cls(str(doc["cluster_cidr"]), int(doc["node_prefix_length"]))


@dataclass(frozen=True)
class NodeRecord:
    """Value of both the node record and its heartbeat: the range and where to route it."""

    cidr: str
    node_ip: str

    def encode(self) -> bytes:
        return _encode({"cidr": self.cidr, "node_ip": self.node_ip})

    @classmethod
    def decode(cls, raw: bytes) -> NodeRecord:
        doc = _decode(raw)
        return cls(str(doc["cidr"]), str(doc["node_ip"]))


@dataclass(frozen=True)
class RangeClaim:
    node: str

    def encode(self) -> bytes:
        return _encode({"node": self.node})

    @classmethod
    def decode(cls, raw: bytes) -> RangeClaim:
        return cls(str(_decode(raw)["node"]))


@dataclass(frozen=True)
class QuarantineMark:
    """Written when a node's heartbeat is first seen missing; informational wall time."""

    cidr: str
    since: str

    def encode(self) -> bytes:
        return _encode({"cidr": self.cidr, "since": self.since})

    @classmethod
    def decode(cls, raw: bytes) -> QuarantineMark:
        doc = _decode(raw)
        return cls(str(doc["cidr"]), str(doc["since"]))


@dataclass(frozen=True)
class PodRef:
    namespace: str = ""
    name: str = ""
    uid: str = ""


@dataclass(frozen=True)
class IpRecord:
    """Who holds one pod address."""

    container_id: str
    ifname: str
    node: str
    pod: PodRef

    def encode(self) -> bytes:
        return _encode(
            {
                "container_id": self.container_id,
                "ifname": self.ifname,
                "node": self.node,
                "pod": {
                    "namespace": self.pod.namespace,
                    "name": self.pod.name,
                    "uid": self.pod.uid,
                },
            }
        )

    @classmethod
    def decode(cls, raw: bytes) -> IpRecord:
        doc = _decode(raw)
        pod = doc.get("pod") or {}
        return cls(
            str(doc["container_id"]),
            str(doc["ifname"]),
            str(doc["node"]),
            PodRef(
                str(pod.get("namespace", "")), str(pod.get("name", "")), str(pod.get("uid", ""))
            ),
        )


@dataclass(frozen=True)
class AttachmentRecord:
    """Stored under an attachment's key: the address (container_id, ifname) holds."""

    address: str
    cidr: str
    node: str

    def encode(self) -> bytes:
        return _encode({"address": self.address, "cidr": self.cidr, "node": self.node})

    @classmethod
    def decode(cls, raw: bytes) -> AttachmentRecord:
        doc = _decode(raw)
        return cls(str(doc["address"]), str(doc["cidr"]), str(doc["node"]))
