"""TLS for podnet's daemons and tools: SPIFFE identities in X.509 certificates, certificate
files that can be replaced while a daemon runs, and gRPC credentials built from them.

Never imported by the CNI shim: its modules import cryptography and grpc.
"""
