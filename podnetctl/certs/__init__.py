"""`podnetctl certs`: the podnet CA and the certificates of every podnet identity."""
