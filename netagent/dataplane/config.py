"""Dataplane configuration."""

from __future__ import annotations

from dataclasses import dataclass

# Not in the kernel's or iproute2's list of assigned route protocols.
PODNET_ROUTE_PROTOCOL = 0x70


@dataclass(frozen=True)
class DataplaneConfig:
    netlink_timeout: float = 5.0
    """Seconds one dataplane operation (attach, detach, sync...) may spend in netlink."""

    undo_timeout: float = 10.0
    """Seconds the undo of a failed attach may take, on top of netlink_timeout."""

    nft_timeout: float = 10.0
    """Seconds an nft invocation may take."""

    peer_route_protocol: int = PODNET_ROUTE_PROTOCOL
    """rtm_protocol marking the peer routes podnet owns (and only those)."""

    nft_table: str = "podnet"
    """Name of podnet's nftables table (family ip)."""

    host_port_table: str = "podnet-hostports"
    """Name of the nftables table (family ip) holding the pods' host port mappings."""

    nft_binary: str = "nft"


DEFAULT_CONFIG = DataplaneConfig()
