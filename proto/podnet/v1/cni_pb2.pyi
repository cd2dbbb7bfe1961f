from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class CniInvocation(_message.Message):
    __slots__ = ("command", "container_id", "netns", "ifname", "args", "path", "config", "replayed")
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    CONTAINER_ID_FIELD_NUMBER: _ClassVar[int]
    NETNS_FIELD_NUMBER: _ClassVar[int]
    IFNAME_FIELD_NUMBER: _ClassVar[int]
    ARGS_FIELD_NUMBER: _ClassVar[int]
    PATH_FIELD_NUMBER: _ClassVar[int]
    CONFIG_FIELD_NUMBER: _ClassVar[int]
    REPLAYED_FIELD_NUMBER: _ClassVar[int]
    command: str
    container_id: str
    netns: str
    ifname: str
    args: str
    path: str
    config: bytes
    replayed: bool
    def __init__(self, command: _Optional[str] = ..., container_id: _Optional[str] = ..., netns: _Optional[str] = ..., ifname: _Optional[str] = ..., args: _Optional[str] = ..., path: _Optional[str] = ..., config: _Optional[bytes] = ..., replayed: _Optional[bool] = ...) -> None: ...

class CniOutcome(_message.Message):
    __slots__ = ("exit_code", "stdout")
    EXIT_CODE_FIELD_NUMBER: _ClassVar[int]
    STDOUT_FIELD_NUMBER: _ClassVar[int]
    exit_code: int
    stdout: bytes
    def __init__(self, exit_code: _Optional[int] = ..., stdout: _Optional[bytes] = ...) -> None: ...
