"""Turning on etcd's RBAC so that only ipamd's identity reaches podnet's keys.

With --client-cert-auth, etcd takes the user of a TLS client from the CN of its
certificate. Enabling auth needs a `root` user with the `root` role; podnet then adds a
role with read-write permission on its key prefix and a user, named after the CN of
ipamd's etcd-client certificate, that has that role. Every other certificate the CA
signed (nodes, operators) maps to no etcd user, or one without permission, and is
refused. Each step tolerates having been done before, so this can run again (to add a
prefix, say), then with the certificate of `root`.
"""

from __future__ import annotations

from typing import Any

import grpc
from aetcd import rpc
from podnet.tls.files import TlsFiles, load_material
from podnet.tls.grpc_credentials import channel_credentials_from_files
from podnet.tls.identity import Role

from podnetctl.errors import CommandError
from podnetctl.etcd_access import ROOT, EtcdAccess

_CALL_TIMEOUT = 10.0
_ALREADY_DONE = ("already exists", "already granted")


def prefix_range(prefix: str) -> tuple[bytes, bytes]:
    """[key, range_end) of every key under prefix + '/'."""
    start = f"{prefix}/".encode()
    return start, start[:-1] + bytes([start[-1] + 1])


def _tolerating_repeats(call: Any, request: Any) -> None:
    try:
        call(request, timeout=_CALL_TIMEOUT)
    except grpc.RpcError as error:
        details = error.details() or ""
        if not any(phrase in details for phrase in _ALREADY_DONE):
            raise


def enable_etcd_auth(channel: grpc.Channel, access: EtcdAccess) -> None:
    """Over a channel authenticated as etcd's root (or to an etcd without auth yet)."""
    auth = rpc.AuthStub(channel)
    no_password = rpc.UserAddOptions(no_password=True)  # certificates only
    _tolerating_repeats(auth.RoleAdd, rpc.AuthRoleAddRequest(name=ROOT))
    _tolerating_repeats(auth.UserAdd, rpc.AuthUserAddRequest(name=ROOT, options=no_password))
    _tolerating_repeats(auth.UserGrantRole, rpc.AuthUserGrantRoleRequest(user=ROOT, role=ROOT))
    _tolerating_repeats(auth.RoleAdd, rpc.AuthRoleAddRequest(name=access.role))
    key, range_end = prefix_range(access.prefix)
    _tolerating_repeats(
        auth.RoleGrantPermission,
        rpc.AuthRoleGrantPermissionRequest(
            name=access.role,
            perm=rpc.Permission(permType=rpc.Permission.READWRITE, key=key, range_end=range_end),
        ),
    )
    _tolerating_repeats(auth.UserAdd, rpc.AuthUserAddRequest(name=access.user, options=no_password))
    _tolerating_repeats(
        auth.UserGrantRole, rpc.AuthUserGrantRoleRequest(user=access.user, role=access.role)
    )
    auth.AuthEnable(rpc.AuthEnableRequest(), timeout=_CALL_TIMEOUT)


def enable_etcd_auth_at(endpoint: str, root: TlsFiles, access: EtcdAccess) -> None:
    """enable_etcd_auth over TLS to endpoint (HOST:PORT), as the certificate of `root`."""
    identity = load_material(root).identity
    if identity.role is not Role.ETCD_CLIENT or identity.name != ROOT:
        raise CommandError(
            f"{root.cert} is {identity}: etcd's RBAC is managed as etcd-client/{ROOT}"
        )
    with grpc.secure_channel(endpoint, channel_credentials_from_files(root)) as channel:
        try:
            enable_etcd_auth(channel, access)
        except grpc.RpcError as error:
            raise CommandError(f"etcd {endpoint}: {error.code().name}: {error.details()}") from None
