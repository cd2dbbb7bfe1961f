"""`podnetctl nodes|ips|ipam|status`: the cluster as ipamd and the agents see it."""
