from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AcquireNodeRangeRequest(_message.Message):
    __slots__ = ("node", "node_ip")
    NODE_FIELD_NUMBER: _ClassVar[int]
    NODE_IP_FIELD_NUMBER: _ClassVar[int]
    node: str
    node_ip: str
    def __init__(self, node: _Optional[str] = ..., node_ip: _Optional[str] = ...) -> None: ...

class NodeRange(_message.Message):
    __slots__ = ("node", "cidr", "gateway", "node_ip", "cluster_cidr", "lease_ttl_seconds")
    NODE_FIELD_NUMBER: _ClassVar[int]
    CIDR_FIELD_NUMBER: _ClassVar[int]
    GATEWAY_FIELD_NUMBER: _ClassVar[int]
    NODE_IP_FIELD_NUMBER: _ClassVar[int]
    CLUSTER_CIDR_FIELD_NUMBER: _ClassVar[int]
    LEASE_TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    node: str
    cidr: str
    gateway: str
    node_ip: str
    cluster_cidr: str
    lease_ttl_seconds: int
    def __init__(self, node: _Optional[str] = ..., cidr: _Optional[str] = ..., gateway: _Optional[str] = ..., node_ip: _Optional[str] = ..., cluster_cidr: _Optional[str] = ..., lease_ttl_seconds: _Optional[int] = ...) -> None: ...

class RenewNodeRangeRequest(_message.Message):
    __slots__ = ("node", "cidr")
    NODE_FIELD_NUMBER: _ClassVar[int]
    CIDR_FIELD_NUMBER: _ClassVar[int]
    node: str
    cidr: str
    def __init__(self, node: _Optional[str] = ..., cidr: _Optional[str] = ...) -> None: ...

class PodRef(_message.Message):
    __slots__ = ("k8s_namespace", "k8s_name", "k8s_uid")
    K8S_NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    K8S_NAME_FIELD_NUMBER: _ClassVar[int]
    K8S_UID_FIELD_NUMBER: _ClassVar[int]
    k8s_namespace: str
    k8s_name: str
    k8s_uid: str
    def __init__(self, k8s_namespace: _Optional[str] = ..., k8s_name: _Optional[str] = ..., k8s_uid: _Optional[str] = ...) -> None: ...

class AllocatePodIpRequest(_message.Message):
    __slots__ = ("node", "cidr", "container_id", "ifname", "pod")
    NODE_FIELD_NUMBER: _ClassVar[int]
    CIDR_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    IFNAME_FIELD_NUMBER: _ClassVar[int]
    POD_FIELD_NUMBER: _ClassVar[int]
    node: str
    cidr: str
    container_id: str
    ifname: str
    pod: PodRef
    def __init__(self, node: _Optional[str] = ..., cidr: _Optional[str] = ..., container_id: _Optional[str] = ..., ifname: _Optional[str] = ..., pod: _Optional[_Union[PodRef, _Mapping]] = ...) -> None: ...

class PodIpAllocation(_message.Message):
    __slots__ = ("address", "prefix_length", "gateway", "cidr", "node", "container_id", "ifname", "pod")
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    PREFIX_LENGTH_FIELD_NUMBER: _ClassVar[int]
    GATEWAY_FIELD_NUMBER: _ClassVar[int]
    CIDR_FIELD_NUMBER: _ClassVar[int]
    NODE_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    IFNAME_FIELD_NUMBER: _ClassVar[int]
    POD_FIELD_NUMBER: _ClassVar[int]
    address: str
    prefix_length: int
    gateway: str
    cidr: str
    node: str
    container_id: str
    ifname: str
    pod: PodRef
    def __init__(self, address: _Optional[str] = ..., prefix_length: _Optional[int] = ..., gateway: _Optional[str] = ..., cidr: _Optional[str] = ..., node: _Optional[str] = ..., container_id: _Optional[str] = ..., ifname: _Optional[str] = ..., pod: _Optional[_Union[PodRef, _Mapping]] = ...) -> None: ...

class ReleasePodIpRequest(_message.Message):
    __slots__ = ("node", "container_id", "ifname")
    NODE_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    IFNAME_FIELD_NUMBER: _ClassVar[int]
    node: str
    container_id: str
    ifname: str
    def __init__(self, node: _Optional[str] = ..., container_id: _Optional[str] = ..., ifname: _Optional[str] = ...) -> None: ...

class ReleasePodIpReply(_message.Message):
    __slots__ = ("released", "address")
    RELEASED_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    released: bool
    address: str
    def __init__(self, released: _Optional[bool] = ..., address: _Optional[str] = ...) -> None: ...

class ListAllocationsRequest(_message.Message):
    __slots__ = ("node",)
    NODE_FIELD_NUMBER: _ClassVar[int]
    node: str
    def __init__(self, node: _Optional[str] = ...) -> None: ...

class ListAllocationsReply(_message.Message):
    __slots__ = ("allocations",)
    ALLOCATIONS_FIELD_NUMBER: _ClassVar[int]
    allocations: _containers.RepeatedCompositeFieldContainer[PodIpAllocation]
    def __init__(self, allocations: _Optional[_Iterable[_Union[PodIpAllocation, _Mapping]]] = ...) -> None: ...

class WatchNodeRangesRequest(_message.Message):
    __slots__ = ("resume_revision",)
    RESUME_REVISION_FIELD_NUMBER: _ClassVar[int]
    resume_revision: int
    def __init__(self, resume_revision: _Optional[int] = ...) -> None: ...

class NodeRangeSnapshot(_message.Message):
    __slots__ = ("ranges",)
    RANGES_FIELD_NUMBER: _ClassVar[int]
    ranges: _containers.RepeatedCompositeFieldContainer[NodeRange]
    def __init__(self, ranges: _Optional[_Iterable[_Union[NodeRange, _Mapping]]] = ...) -> None: ...

class NodeRangeEvent(_message.Message):
    __slots__ = ("snapshot", "added", "removed", "revision")
    SNAPSHOT_FIELD_NUMBER: _ClassVar[int]
    ADDED_FIELD_NUMBER: _ClassVar[int]
    REMOVED_FIELD_NUMBER: _ClassVar[int]
    REVISION_FIELD_NUMBER: _ClassVar[int]
    snapshot: NodeRangeSnapshot
    added: NodeRange
    removed: NodeRange
    revision: int
    def __init__(self, snapshot: _Optional[_Union[NodeRangeSnapshot, _Mapping]] = ..., added: _Optional[_Union[NodeRange, _Mapping]] = ..., removed: _Optional[_Union[NodeRange, _Mapping]] = ..., revision: _Optional[int] = ...) -> None: ...
