"""The agent's kernel side: pod veths, peer routes, masquerade (pyroute2, nft).

Every function works on the node namespace (the namespace of the calling
thread: the agent runs inside its node's namespace) and on pod namespaces
given by path (/run/netns/x, /proc/<pid>/ns/net, ...; a NetnsPath resolves it
as the calling runtime sees it). None of them forks for
netlink. Each takes an optional DataplaneConfig (timeouts, route protocol,
nft table name).
"""

from netagent.dataplane.attach import PodAttacher, attach, prepared_attach
from netagent.dataplane.caller_view import CallerRoot, NetnsPath
from netagent.dataplane.config import DEFAULT_CONFIG, DataplaneConfig
from netagent.dataplane.detach import detach
from netagent.dataplane.errors import (
    AttachmentMismatch,
    DataplaneError,
    DataplaneTimeout,
    HostPortTaken,
    InterfaceExists,
    InvalidPodNetworkSpec,
    NetlinkOperationFailed,
    NetnsNotFound,
    NftablesFailed,
    NotANetns,
    PeerRouteSyncFailed,
)
from netagent.dataplane.host_port_rules import HostPortRule
from netagent.dataplane.host_port_table import (
    add_host_ports,
    ensure_host_port_table,
    list_host_ports,
    remove_host_ports,
)
from netagent.dataplane.host_veths import list_host_veths
from netagent.dataplane.inspection import inspect_attachment, verify
from netagent.dataplane.masquerade import apply_masquerade, remove_masquerade
from netagent.dataplane.model import (
    AttachedVethPair,
    HostVeth,
    InterfaceState,
    ObservedAttachment,
    PodNetworkSpec,
    RouteState,
)
from netagent.dataplane.naming import host_veth_name
from netagent.dataplane.node_settings import default_route_mtu, enable_ipv4_forwarding
from netagent.dataplane.peer_route_sync import sync_peer_routes
from netagent.dataplane.route_diff import PeerRoute, RouteDiff, diff_peer_routes

__all__ = [
    "DEFAULT_CONFIG",
    "AttachedVethPair",
    "AttachmentMismatch",
    "CallerRoot",
    "DataplaneConfig",
    "DataplaneError",
    "DataplaneTimeout",
    "HostPortRule",
    "HostPortTaken",
    "HostVeth",
    "InterfaceExists",
    "InterfaceState",
    "InvalidPodNetworkSpec",
    "NetlinkOperationFailed",
    "NetnsNotFound",
    "NetnsPath",
    "NftablesFailed",
    "NotANetns",
    "ObservedAttachment",
    "PeerRoute",
    "PeerRouteSyncFailed",
    "PodAttacher",
    "PodNetworkSpec",
    "RouteDiff",
    "RouteState",
    "add_host_ports",
    "apply_masquerade",
    "attach",
    "default_route_mtu",
    "detach",
    "diff_peer_routes",
    "enable_ipv4_forwarding",
    "ensure_host_port_table",
    "host_veth_name",
    "inspect_attachment",
    "list_host_ports",
    "list_host_veths",
    "prepared_attach",
    "remove_host_ports",
    "remove_masquerade",
    "sync_peer_routes",
    "verify",
]
