"""Which attachment a CNI call is about: container, netns, interface, args."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from tools.cniexec.errors import InvalidRuntimeConfError

_CONTAINER_ID = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$")
_MAX_IFNAME_BYTES = 15


@dataclass(frozen=True)
class RuntimeConf:
    """One attachment, as a runtime describes it to libcni.

    args become CNI_ARGS ("K=V;K2=V2", in the given order); capability_args
    (e.g. {"portMappings": [...]}) reach plugins that declare the capability.
    """

    container_id: str
    netns: str
    ifname: str = "eth0"
    args: tuple[tuple[str, str], ...] = ()
    capability_args: Mapping[str, Any] = field(default_factory=dict)

    @property
    def cni_args(self) -> str:
        return ";".join(f"{key}={value}" for key, value in self.args)

    def validate(self) -> None:
        if not _CONTAINER_ID.match(self.container_id):
            raise InvalidRuntimeConfError(f"invalid container id {self.container_id!r}")
        name = self.ifname
        if not name or name in (".", ".."):
            raise InvalidRuntimeConfError(f"invalid interface name {name!r}")
        if len(name.encode()) > _MAX_IFNAME_BYTES:
            raise InvalidRuntimeConfError(f"interface name {name!r} is longer than 15 bytes")
        if any(char in name for char in "/:") or any(char.isspace() for char in name):
            raise InvalidRuntimeConfError(f"interface name {name!r} has a forbidden character")
        for key, value in self.args:
            if not key or any(char in key + value for char in ";="):
                raise InvalidRuntimeConfError(f"invalid CNI_ARGS pair {key!r}={value!r}")


def kubernetes_pod_args(namespace: str, name: str, uid: str) -> tuple[tuple[str, str], ...]:
    """The CNI_ARGS a kubelet-driven runtime sends for a pod."""
    return (
        ("IgnoreUnknown", "1"),
        ("K8S_POD_NAMESPACE", namespace),
        ("K8S_POD_NAME", name),
        ("K8S_POD_UID", uid),
    )
