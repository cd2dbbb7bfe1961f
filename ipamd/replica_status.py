"""What one ipamd replica says about itself (GetStatus): does it reach etcd, and where."""

from __future__ import annotations

from dataclasses import dataclass

from ipamd.etcd_connection import EtcdConnection
from ipamd.indexes import StoreHealth


@dataclass(frozen=True)
class ReplicaStatus:
    store_health: StoreHealth
    connection: EtcdConnection

    def etcd_reachable(self) -> bool:
        return self.store_health.serving

    def etcd_endpoint(self) -> str:
        return str(self.connection.active_endpoint)
