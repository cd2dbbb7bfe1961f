"""Names and markers that let podnet recognise its own kernel objects."""

from __future__ import annotations

import hashlib

_OWNER = "podnet"


def host_veth_name(container_id: str, ifname: str) -> str:
    """Node-side veth name for (container id, ifname): stable, so DEL needs no netns."""
    digest = hashlib.sha256(f"{container_id}/{ifname}".encode()).hexdigest()
    return f"veth{digest[:8]}"


def host_veth_alias(container_id: str, ifname: str) -> str:
    """ifalias written on every podnet host veth: marks ownership, names the attachment.

    "podnet" alone when the container id is not known.
    """
    if not container_id:
        return _OWNER
    return f"{_OWNER}/{container_id}/{ifname}"


def is_podnet_alias(alias: str | None) -> bool:
    return alias is not None and (alias == _OWNER or alias.startswith(f"{_OWNER}/"))


def parse_host_veth_alias(alias: str | None) -> tuple[str, str] | None:
    """(container id, ifname) from a podnet ifalias, None when it names none."""
    if alias is None or not alias.startswith(f"{_OWNER}/"):
        return None
    container_id, sep, ifname = alias[len(_OWNER) + 1 :].partition("/")
    if not sep or not container_id or not ifname:
        return None
    return container_id, ifname
