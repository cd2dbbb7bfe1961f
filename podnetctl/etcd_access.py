"""Who may reach podnet's keys in etcd: names shared by `podnetctl etcd` and the lab."""

from __future__ import annotations

from dataclasses import dataclass

ROOT = "root"  # etcd's administrator: user and role
DEFAULT_ROLE = "podnet"
DEFAULT_USER = "ipamd"  # the CN of ipamd's etcd-client certificate


@dataclass(frozen=True)
class EtcdAccess:
    prefix: str  # podnet's key prefix (ipamd --etcd-prefix); permission covers prefix + "/"
    user: str = DEFAULT_USER
    role: str = DEFAULT_ROLE

    def __post_init__(self) -> None:
        if not self.prefix.startswith("/") or self.prefix.endswith("/"):
            raise ValueError(f"prefix {self.prefix!r} must start with '/' and not end with '/'")
