"""The TLS files of one daemon (CA bundle, certificate, key), re-read when they change.

A daemon keeps serving with what it loaded last: a file that is missing, malformed or
caught mid-renewal is retried at the next poll and does not replace good material.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature

from podnet.logs import log_event
from podnet.tls.certificates import parse_pem_certificates, spiffe_id_of, trust_domain_of_ca
from podnet.tls.errors import InvalidIdentity, TlsError, TlsFileError
from podnet.tls.identity import SpiffeId
from podnet.tls.pair import KeyPair, load_pair, read_file
from podnet.tls.paths import TlsFiles as TlsFiles  # re-exported: callers load what they name

log = logging.getLogger(__name__)

DEFAULT_POLL_SECONDS = 5.0


@dataclass(frozen=True)
class TlsMaterial:
    ca_pem: bytes
    pair: KeyPair
    trust_domain: str
    identity: SpiffeId  # of the pair's certificate
    generation: int = 0  # grows by one each time the files' content is taken in


def load_material(files: TlsFiles, generation: int = 0) -> TlsMaterial:
    """Reads and checks the three files: the certificate is a podnet identity in the CA's
    trust domain, signed by a CA of the bundle, and the key is the certificate's."""
    ca_pem = read_file(files.ca, "CA bundle")
    authorities = parse_pem_certificates(ca_pem, f"CA bundle {files.ca}")
    trust_domain = trust_domain_of_ca(authorities[0])
    pair = load_pair(files.cert, files.key)
    identity = spiffe_id_of(pair.certificate)
    if identity.trust_domain != trust_domain:
        raise InvalidIdentity(
            f"certificate {files.cert} is {identity}, outside trust domain {trust_domain}"
        )
    if not any(_signed_by(pair.certificate, ca) for ca in authorities):
        raise TlsFileError(f"certificate {files.cert} is not signed by the CA in {files.ca}")
    return TlsMaterial(ca_pem, pair, trust_domain, identity, generation)


def _signed_by(certificate: x509.Certificate, authority: x509.Certificate) -> bool:
    try:
        certificate.verify_directly_issued_by(authority)
    except (ValueError, TypeError, InvalidSignature):
        return False
    return True


_FileState = tuple[int, int, int, int]  # device, inode, size, mtime in ns


def _file_state(path: Path) -> _FileState | None:
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns)


class WatchedTlsFiles:
    """current() is the latest good material; the files are looked at (stat only) at most
    every poll_seconds, and read again when any of them was replaced or modified.
    Safe to call from any thread (gRPC calls the server's fetcher from its own)."""

    def __init__(
        self,
        files: TlsFiles,
        poll_seconds: float = DEFAULT_POLL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.files = files
        self.poll_seconds = poll_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._state = self._states()
        self._material = load_material(files)  # a daemon must not start without it
        self._next_poll = clock() + poll_seconds

    def _states(self) -> tuple[_FileState | None, ...]:
        return tuple(_file_state(path) for path in (self.files.ca, self.files.cert, self.files.key))

    def current(self) -> TlsMaterial:
        with self._lock:
            if self._clock() >= self._next_poll:
                self._next_poll = self._clock() + self.poll_seconds
                if self._states() != self._state:
                    try:
                        self._take_in()
                    except TlsError as error:
                        log_event(
                            log,
                            "tls_files_unusable",
                            logging.WARNING,
                            error=error,
                            action="keeping the previous certificate",
                        )
            return self._material

    def reload(self) -> TlsMaterial:
        """Reads the files now, changed or not (for SIGHUP). Raises TlsError, keeping the
        previous material, when they cannot be used."""
        with self._lock:
            self._next_poll = self._clock() + self.poll_seconds
            self._take_in()
            return self._material

    def _take_in(self) -> None:
        state = self._states()
        material = load_material(self.files, self._material.generation + 1)
        if material.pair.certificate_pem != self._material.pair.certificate_pem or (
            material.ca_pem != self._material.ca_pem
        ):
            self._material = material
            log_event(
                log,
                "tls_certificate_loaded",
                identity=str(material.identity),
                serial=f"{material.pair.certificate.serial_number:x}",
                not_after=material.pair.certificate.not_valid_after_utc.isoformat(),
            )
        self._state = state

    async def changes(self) -> AsyncIterator[TlsMaterial]:
        """Yields the material each time it changes, looking every poll_seconds; for
        clients, which must build a new channel to present a new certificate."""
        seen = self.current().generation
        while True:
            await asyncio.sleep(self.poll_seconds)
            material = await asyncio.to_thread(self.current)
            if material.generation != seen:
                seen = material.generation
                yield material
