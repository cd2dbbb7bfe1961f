"""Where the shim and the agent meet when the network configuration names nothing.

The C shim (cni_shim/native/defaults.h) compiles these in too;
tests/shim/test_defaults.py checks every shim behaves by them.
"""

DEFAULT_AGENT_SOCKET = "/run/podnet/agent.sock"
DEFAULT_SPOOL_DIR = "/var/lib/podnet/spool"
