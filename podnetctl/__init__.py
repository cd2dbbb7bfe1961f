"""podnetctl: the operator's command line for podnet (certificates, etcd access)."""
