"""gRPC credentials from podnet TLS material: servers that require a client certificate
of the podnet CA and pick up renewed files without a restart; clients that present one."""

from __future__ import annotations

from collections.abc import Callable

import grpc

from podnet.tls.certificates import parse_pem_certificates
from podnet.tls.files import TlsFiles, TlsMaterial, WatchedTlsFiles
from podnet.tls.pair import load_pair, read_file


def _server_configuration(material: TlsMaterial) -> grpc.ServerCertificateConfiguration:
    return grpc.ssl_server_certificate_configuration(
        [(material.pair.private_key_pem, material.pair.certificate_pem)],
        root_certificates=material.ca_pem,
    )


def server_credentials(files: WatchedTlsFiles) -> grpc.ServerCredentials:
    """Mutual TLS: a client without a certificate of the CA bundle fails the handshake.
    gRPC asks for the configuration before every handshake; a renewed certificate or CA
    bundle is used from the first handshake after `files` notices it."""
    served = files.current()

    def fetch() -> grpc.ServerCertificateConfiguration | None:
        nonlocal served
        latest = files.current()
        if latest.generation == served.generation:
            return None  # keep the current configuration
        served = latest
        return _server_configuration(latest)

    fetcher: Callable[[], grpc.ServerCertificateConfiguration] = fetch  # type: ignore[assignment]
    return grpc.dynamic_ssl_server_credentials(
        _server_configuration(served), fetcher, require_client_authentication=True
    )


def channel_credentials(material: TlsMaterial) -> grpc.ChannelCredentials:
    """A client's credentials: verify the server against the CA bundle, present the pair.
    Fixed for the channel's life: build a new channel when the material changes."""
    return grpc.ssl_channel_credentials(
        root_certificates=material.ca_pem,
        private_key=material.pair.private_key_pem,
        certificate_chain=material.pair.certificate_pem,
    )


def channel_credentials_from_files(files: TlsFiles) -> grpc.ChannelCredentials:
    """A client's credentials from files that need not be podnet identities: for servers
    of another PKI, such as an etcd cluster podnet shares. Raises TlsFileError."""
    ca_pem = read_file(files.ca, "CA bundle")
    parse_pem_certificates(ca_pem, f"CA bundle {files.ca}")
    pair = load_pair(files.cert, files.key)
    return grpc.ssl_channel_credentials(
        root_certificates=ca_pem,
        private_key=pair.private_key_pem,
        certificate_chain=pair.certificate_pem,
    )
