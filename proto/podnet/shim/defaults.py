"""Where the shim and the agent meet when the network configuration names nothing.

The C shim (cni_shim/native) compiles these in too; tests/shim/test_native.py
checks the two agree.
"""

DEFAULT_AGENT_SOCKET = "/run/podnet/agent.sock"
DEFAULT_SPOOL_DIR = "/var/lib/podnet/spool"
