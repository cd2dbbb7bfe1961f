"""The contract between the CNI shim and the agent, beside the gRPC one (podnet.v1.cni).

Standard library only and cheap to import: the Python shim loads it on every
CNI call. The spool format is documented in docs/spool-format.md, since the C
shim writes it too.
"""
