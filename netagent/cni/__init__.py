"""The agent's pure CNI core: request parsing and validation, result and error encoding.

Imports no gRPC, aiohttp, etcd or netlink; the agent's servicer calls it.
"""
