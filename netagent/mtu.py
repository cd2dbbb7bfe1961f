"""The bounds of a pod interface's MTU, checked by the agent's --mtu flag, the CNI
configuration's `mtu` and the dataplane alike."""

from __future__ import annotations

# RFC 791: every IPv4 link carries 68-byte datagrams; Linux refuses a smaller MTU on
# a veth and disables IPv4 on a link below it.
MIN_MTU = 68
# The largest MTU a veth accepts (ETH_MAX_MTU).
MAX_MTU = 65535
