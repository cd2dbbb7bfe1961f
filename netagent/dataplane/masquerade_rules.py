"""nft scripts for podnet's masquerade table. Pure.

Each script is one `nft -f -` transaction: the kernel applies all of it or
none of it, so the table is never seen half-built. `add table` before
`delete table` makes the delete succeed whether or not the table existed.
"""

from __future__ import annotations

from ipaddress import IPv4Network

POSTROUTING_CHAIN = "postrouting"
SRCNAT_PRIORITY = 100


def _reset_table(table: str) -> str:
    return f"add table ip {table}\ndelete table ip {table}\n"


def masquerade_script(table: str, cluster_cidr: IPv4Network, pod_range: IPv4Network | None) -> str:
    """Replace the table with one masquerading pod traffic leaving the cluster.

    Sources: the node's pod range, or the whole cluster CIDR when the node has
    none yet. Destinations inside the cluster CIDR (pod to pod) are left alone.
    """
    source = pod_range if pod_range is not None else cluster_cidr
    return _reset_table(table) + (
        f"table ip {table} {{\n"
        f"  chain {POSTROUTING_CHAIN} {{\n"
        f"    type nat hook postrouting priority {SRCNAT_PRIORITY}; policy accept;\n"
        f"    ip saddr {source} ip daddr != {cluster_cidr} counter masquerade\n"
        f"  }}\n"
        f"}}\n"
    )


def removal_script(table: str) -> str:
    return _reset_table(table)
