"""One CNI invocation, parsed and validated into a frozen CniRequest.

Checks run in the order libcni's plugin skeleton uses, so the first problem
reported is the one a reference plugin would report: required environment (4),
JSON decoding (6), network name (7), container id and interface name (4),
cniVersion (1), then podnet's own fields.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from netagent.cni.errors import CniError, ErrorCode
from netagent.cni.versions import SUPPORTED_VERSIONS, at_least
from netagent.mtu import MAX_MTU, MIN_MTU

COMMANDS = ("ADD", "DEL", "CHECK", "GC", "STATUS")

# Per verb, the CNI_* variables that must be non-empty (SPEC 1.1.0 section 2).
# CNI_PATH is optional for ADD/DEL/CHECK and podnet never uses it.
REQUIRED_ENVIRONMENT: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "ADD": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"),
        "CHECK": ("CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"),
        "DEL": ("CNI_CONTAINERID", "CNI_IFNAME"),
        "GC": ("CNI_PATH",),
        "STATUS": (),
    }
)
# The lowest spec version in which each verb exists.
MINIMUM_VERSION: Mapping[str, str] = MappingProxyType(
    {"ADD": "0.1.0", "DEL": "0.1.0", "CHECK": "0.4.0", "GC": "1.1.0", "STATUS": "1.1.0"}
)
ATTACHMENT_VERBS = ("ADD", "DEL", "CHECK")

KNOWN_CNI_ARGS = (
    "IgnoreUnknown",
    "K8S_POD_NAMESPACE",
    "K8S_POD_NAME",
    "K8S_POD_UID",
    "K8S_POD_INFRA_CONTAINER_ID",
)
# libcni treats a configuration without cniVersion as 0.1.0.
IMPLIED_CNI_VERSION = "0.1.0"

_IDENTIFIER = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.\-]*$")
_MAX_IFNAME_BYTES = 15


@dataclass(frozen=True)
class PodIdentity:
    namespace: str = ""
    name: str = ""
    uid: str = ""


@dataclass(frozen=True)
class ValidAttachment:
    """One entry of GC's cni.dev/valid-attachments: an attachment the runtime still uses."""

    container_id: str
    ifname: str


@dataclass(frozen=True)
class NetworkConfig:
    cni_version: str
    name: str
    type: str
    mtu: int | None = None
    agent_socket: str | None = None
    spool_dir: str | None = None
    prev_result: Mapping[str, Any] | None = None
    runtime_config: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    valid_attachments: tuple[ValidAttachment, ...] = ()
    raw: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class CniRequest:
    command: str
    container_id: str
    netns: str
    ifname: str
    cni_args: Mapping[str, str]
    pod: PodIdentity
    config: NetworkConfig
    path: str = ""
    replayed: bool = False
    raw_args: str = ""  # CNI_ARGS exactly as received
    raw_config: bytes = b""  # stdin exactly as received (e.g. to spool a DEL)


def parse_request(
    command: str,
    container_id: str,
    netns: str,
    ifname: str,
    args: str,
    path: str,
    config: bytes,
    replayed: bool = False,
) -> CniRequest:
    """Validates one invocation (the fields of a CniInvocation); raises CniError."""
    if command not in COMMANDS:
        raise CniError(ErrorCode.INVALID_ENVIRONMENT_VARIABLES, f"unknown CNI_COMMAND {command!r}")
    environment = {
        "CNI_CONTAINERID": container_id,
        "CNI_NETNS": netns,
        "CNI_IFNAME": ifname,
        "CNI_PATH": path,
    }
    missing = [name for name in REQUIRED_ENVIRONMENT[command] if not environment[name]]
    if missing:
        raise CniError(
            ErrorCode.INVALID_ENVIRONMENT_VARIABLES,
            f"required env variables [{','.join(missing)}] missing",
        )
    document = _decode(config)
    name = _network_name(document)
    if command in ATTACHMENT_VERBS:
        validate_container_id(container_id)
        validate_ifname(ifname)
    cni_version = _cni_version(document, command)
    cni_args = parse_cni_args(args)
    network = _network_config(document, command, cni_version, name)
    return CniRequest(
        command=command,
        container_id=container_id,
        netns=netns,
        ifname=ifname,
        cni_args=MappingProxyType(cni_args),
        pod=PodIdentity(
            namespace=cni_args.get("K8S_POD_NAMESPACE", ""),
            name=cni_args.get("K8S_POD_NAME", ""),
            uid=cni_args.get("K8S_POD_UID", ""),
        ),
        config=network,
        path=path,
        replayed=replayed,
        raw_args=args,
        raw_config=config,
    )


def validate_container_id(container_id: str) -> None:
    if not container_id:
        raise CniError(ErrorCode.INVALID_ENVIRONMENT_VARIABLES, "missing containerID")
    if not _IDENTIFIER.match(container_id):
        raise CniError(
            ErrorCode.INVALID_ENVIRONMENT_VARIABLES,
            "invalid characters in containerID",
            container_id,
        )


def validate_ifname(ifname: str) -> None:
    problem = ""
    if not ifname:
        problem = "interface name is empty"
    elif len(ifname.encode()) > _MAX_IFNAME_BYTES:
        problem = f"interface name is longer than {_MAX_IFNAME_BYTES} bytes"
    elif ifname in (".", ".."):
        problem = "interface name is . or .."
    elif any(char in "/:" or char.isspace() for char in ifname):
        problem = "interface name contains / or : or whitespace"
    if problem:
        raise CniError(ErrorCode.INVALID_ENVIRONMENT_VARIABLES, problem, ifname)


def parse_cni_args(raw: str) -> dict[str, str]:
    """CNI_ARGS "K=V;K2=V2"; unknown keys are an error unless IgnoreUnknown is true."""
    if not raw:
        return {}
    pairs: dict[str, str] = {}
    for pair in raw.split(";"):
        key_value = pair.split("=")
        if len(key_value) != 2:
            raise CniError(
                ErrorCode.INVALID_ENVIRONMENT_VARIABLES, f"CNI_ARGS: invalid pair {pair!r}"
            )
        pairs[key_value[0]] = key_value[1]
    ignore_unknown = _cni_args_bool(pairs.get("IgnoreUnknown", "false"))
    unknown = sorted(key for key in pairs if key not in KNOWN_CNI_ARGS)
    if unknown and not ignore_unknown:
        raise CniError(
            ErrorCode.INVALID_ENVIRONMENT_VARIABLES,
            f"CNI_ARGS: unknown args {unknown}",
            "set IgnoreUnknown=1 to ignore them",
        )
    return pairs


def _cni_args_bool(value: str) -> bool:
    lowered = value.lower()
    if lowered in ("1", "true"):
        return True
    if lowered in ("0", "false"):
        return False
    raise CniError(
        ErrorCode.INVALID_ENVIRONMENT_VARIABLES, f"CNI_ARGS: IgnoreUnknown={value!r} is not a bool"
    )


def _decode(config: bytes) -> dict[str, Any]:
    try:
        document = json.loads(config)
    except (UnicodeDecodeError, ValueError) as error:
        raise CniError(
            ErrorCode.DECODING_FAILURE, "error decoding network config", str(error)
        ) from error
    except RecursionError as error:  # json's decoder recurses once per nesting level
        raise CniError(
            ErrorCode.DECODING_FAILURE, "error decoding network config", "nested too deeply"
        ) from error
    if not isinstance(document, dict):
        raise CniError(ErrorCode.DECODING_FAILURE, "network config is not a JSON object")
    return document


def _network_name(document: Mapping[str, Any]) -> str:
    name = document.get("name")
    if not isinstance(name, str) or not name:
        raise CniError(ErrorCode.INVALID_NETWORK_CONFIG, "missing network name")
    if not _IDENTIFIER.match(name):
        raise CniError(ErrorCode.INVALID_NETWORK_CONFIG, "invalid characters in network name", name)
    return name


def _cni_version(document: Mapping[str, Any], command: str) -> str:
    version = document.get("cniVersion", IMPLIED_CNI_VERSION)
    if not isinstance(version, str):
        raise CniError(ErrorCode.DECODING_FAILURE, "cniVersion is not a string")
    if version not in SUPPORTED_VERSIONS:
        raise CniError(
            ErrorCode.INCOMPATIBLE_CNI_VERSION,
            "incompatible CNI versions",
            f"config is {version!r}, plugin supports {list(SUPPORTED_VERSIONS)}",
        )
    if not at_least(version, MINIMUM_VERSION[command]):
        raise CniError(
            ErrorCode.INCOMPATIBLE_CNI_VERSION,
            f"config version does not allow {command}",
            f"{command} needs cniVersion >= {MINIMUM_VERSION[command]}, config is {version}",
        )
    return version


def _network_config(
    document: Mapping[str, Any], command: str, cni_version: str, name: str
) -> NetworkConfig:
    plugin_type = document.get("type")
    if not isinstance(plugin_type, str) or not plugin_type:
        raise CniError(ErrorCode.INVALID_NETWORK_CONFIG, "missing plugin type")
    prev_result = _optional_object(document, "prevResult")
    if command == "CHECK" and prev_result is None:
        raise CniError(ErrorCode.INVALID_NETWORK_CONFIG, "CHECK needs prevResult")
    return NetworkConfig(
        cni_version=cni_version,
        name=name,
        type=plugin_type,
        mtu=_mtu(document),
        agent_socket=_optional_string(document, "agentSocket"),
        spool_dir=_optional_string(document, "spoolDir"),
        prev_result=prev_result,
        runtime_config=_optional_object(document, "runtimeConfig") or MappingProxyType({}),
        valid_attachments=_valid_attachments(document),
        raw=MappingProxyType(dict(document)),
    )


def _optional_object(document: Mapping[str, Any], key: str) -> Mapping[str, Any] | None:
    value = document.get(key)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise CniError(ErrorCode.INVALID_NETWORK_CONFIG, f"{key} is not an object")
    return MappingProxyType(value)


def _optional_string(document: Mapping[str, Any], key: str) -> str | None:
    value = document.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise CniError(ErrorCode.INVALID_NETWORK_CONFIG, f"{key} is not a non-empty string")
    return value


def _mtu(document: Mapping[str, Any]) -> int | None:
    mtu = document.get("mtu")
    if mtu is None:
        return None
    if isinstance(mtu, bool) or not isinstance(mtu, int) or not MIN_MTU <= mtu <= MAX_MTU:
        raise CniError(
            ErrorCode.INVALID_NETWORK_CONFIG,
            f"mtu must be an integer from {MIN_MTU} to {MAX_MTU}",
            repr(mtu),
        )
    return mtu


def _valid_attachments(document: Mapping[str, Any]) -> tuple[ValidAttachment, ...]:
    # libcni sends both spellings; the older one is from a since-fixed spec typo.
    for key in ("cni.dev/valid-attachments", "cni.dev/attachments"):
        if key in document:
            return _attachment_list(document[key], key)
    return ()


def _attachment_list(value: Any, key: str) -> tuple[ValidAttachment, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise CniError(ErrorCode.INVALID_NETWORK_CONFIG, f"{key} is not a list")
    attachments = []
    for item in value:
        container_id = item.get("containerID") if isinstance(item, dict) else None
        ifname = item.get("ifname") if isinstance(item, dict) else None
        if not isinstance(container_id, str) or not isinstance(ifname, str):
            raise CniError(
                ErrorCode.INVALID_NETWORK_CONFIG,
                f"{key} entries need string containerID and ifname",
                json.dumps(item)[:200],
            )
        attachments.append(ValidAttachment(container_id, ifname))
    return tuple(attachments)
