"""ipamd's side of mutual TLS: its serving certificate, the CA its callers' certificates
must chain to, both re-read when renewed (a poll before each handshake, or SIGHUP)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Iterator

from podnet.logs import log_event
from podnet.tls.errors import TlsError
from podnet.tls.files import WatchedTlsFiles
from podnet.tls.identity import Role

from ipamd.config import ServerTls
from ipamd.errors import ConfigError

logger = logging.getLogger(__name__)


def watch_server_files(tls: ServerTls) -> WatchedTlsFiles:
    """Loads and checks ipamd's files; ConfigError (one line) when they cannot serve."""
    try:
        watched = WatchedTlsFiles(tls.files)
    except TlsError as error:
        raise ConfigError(f"--tls-cert/--tls-key/--tls-client-ca: {error}") from None
    material = watched.current()
    if material.trust_domain != tls.trust_domain:
        raise ConfigError(
            f"--trust-domain: {tls.trust_domain!r}, but the CA in {tls.files.ca} is of "
            f"trust domain {material.trust_domain!r}"
        )
    if material.identity.role is not Role.IPAMD:
        raise ConfigError(
            f"--tls-cert: {tls.files.cert} is {material.identity}, not an ipamd certificate"
        )
    return watched


def reload_now(watched: WatchedTlsFiles) -> None:
    """SIGHUP: read the files now instead of at the next poll."""
    try:
        material = watched.reload()
    except TlsError as error:
        log_event(logger, "tls_reload_failed", logging.ERROR, error=error)
        return
    log_event(
        logger,
        "tls_reloaded",
        identity=str(material.identity),
        not_after=material.pair.certificate.not_valid_after_utc.isoformat(),
    )


@contextlib.contextmanager
def reload_on_hangup(watched: WatchedTlsFiles) -> Iterator[None]:
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGHUP, reload_now, watched)
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGHUP)
