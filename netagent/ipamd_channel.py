"""The agent's channel to ipamd: mutual TLS with this node's certificate, rebuilt when the
certificate files are renewed (seen by polling, or at once on SIGHUP).

A gRPC channel keeps the credentials it was built with, so a renewed certificate takes a
new channel. New calls go to the new channel as soon as it is connected; calls already
on the old one finish there (it is closed after a grace period), and a range stream
reopens on the new one from its last revision (ipamd_client.watch_ranges).
"""

from __future__ import annotations

import asyncio
import datetime
import logging

import grpc
import grpc.aio
from podnet.logs import log_event
from podnet.tls.errors import TlsError
from podnet.tls.files import TlsFiles, TlsMaterial, WatchedTlsFiles
from podnet.tls.grpc_credentials import channel_credentials
from podnet.tls.identity import Role
from podnet.v1 import ipam_pb2_grpc

from netagent.errors import ConfigError

logger = logging.getLogger("podnet.agent.ipamd_channel")

# Replies can hold every allocation of a node or every node's range: as large as ipamd
# may send (ipamd.limits.Limits.max_reply_bytes).
MAX_REPLY_BYTES = 16 * 1024 * 1024
CHANNEL_OPTIONS = [
    ("grpc.keepalive_time_ms", 10_000),
    ("grpc.keepalive_timeout_ms", 5_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.initial_reconnect_backoff_ms", 200),
    ("grpc.max_reconnect_backoff_ms", 2_000),
    ("grpc.max_receive_message_length", MAX_REPLY_BYTES),
]


def watch_node_files(files: TlsFiles, node_name: str) -> WatchedTlsFiles:
    """This node's TLS files, checked: they load, and the certificate names this node (it
    is all ipamd lets the agent act for). ConfigError, one line, otherwise."""
    try:
        watched = WatchedTlsFiles(files)
    except TlsError as error:
        raise ConfigError(f"--tls-cert/--tls-key/--tls-ca: {error}") from None
    identity = watched.current().identity
    if identity.role is not Role.NODE or identity.name != node_name:
        raise ConfigError(
            f"--tls-cert: {files.cert} is {identity}, but this is node "
            f"{node_name!r}: ipamd would refuse every call for it"
        )
    return watched


def warn_plaintext() -> None:
    log_event(
        logger,
        "insecure_plaintext",
        logging.WARNING,
        detail="calls to ipamd without TLS: readable and forgeable on the network",
    )


def validity_problem(material: TlsMaterial, now: datetime.datetime | None = None) -> str | None:
    """Why ipamd will refuse this node's certificate at the handshake, if it will."""
    certificate = material.pair.certificate
    now = now or datetime.datetime.now(datetime.UTC)
    if now > certificate.not_valid_after_utc:
        return f"expired at {certificate.not_valid_after_utc.isoformat()}"
    if now < certificate.not_valid_before_utc:
        return f"not valid before {certificate.not_valid_before_utc.isoformat()}"
    return None


class IpamdChannel:
    def __init__(self, address: str, tls: WatchedTlsFiles | None, grace: float) -> None:
        """tls None: plaintext (--insecure-plaintext)."""
        self._address = address
        self._tls = tls
        self._grace = grace
        self._lock = asyncio.Lock()
        self._closing: set[asyncio.Task[None]] = set()
        self._reported_problem: str | None = None
        material = tls.current() if tls else None
        self._generation = material.generation if material else 0
        self._channel = self._build(material)
        self.stub: ipam_pb2_grpc.IpamAsyncStub = ipam_pb2_grpc.IpamStub(self._channel)
        self.replaced = asyncio.Event()  # set (then swapped for a new one) on each rebuild
        if material is not None:
            self._report(material, "tls_certificate_loaded")

    def _build(self, material: TlsMaterial | None) -> grpc.aio.Channel:
        if material is None:
            return grpc.aio.insecure_channel(self._address, options=CHANNEL_OPTIONS)
        return grpc.aio.secure_channel(
            self._address, channel_credentials(material), options=CHANNEL_OPTIONS
        )

    def _report(self, material: TlsMaterial, event: str) -> None:
        certificate = material.pair.certificate
        log_event(
            logger,
            event,
            identity=str(material.identity),
            serial=f"{certificate.serial_number:x}",
            not_after=certificate.not_valid_after_utc.isoformat(),
        )
        self._check_validity(material)

    def _check_validity(self, material: TlsMaterial) -> None:
        """Says once, loudly, when this node's certificate stops being acceptable: every
        call to ipamd then fails its handshake and ADD answers "try again later"."""
        problem = validity_problem(material)
        if problem is not None and problem != self._reported_problem:
            log_event(
                logger,
                "tls_certificate_invalid",
                logging.ERROR,
                identity=str(material.identity),
                problem=problem,
                certificate=str(self._tls.files.cert if self._tls else ""),
                action="ipamd refuses this node until the certificate is renewed",
            )
        self._reported_problem = problem

    async def follow_renewals(self) -> None:
        """Polls the files (WatchedTlsFiles' interval) and rebuilds the channel when they
        change; also re-checks the certificate's validity each time."""
        if self._tls is None:
            return
        while True:
            await asyncio.sleep(self._tls.poll_seconds)
            material = await asyncio.to_thread(self._tls.current)
            if material.generation != self._generation:
                await self._replace(material)
            else:
                self._check_validity(material)

    def reload(self) -> None:
        """SIGHUP: read the files now and rebuild the channel if they changed."""
        if self._tls is None:
            return
        try:
            material = self._tls.reload()
        except TlsError as error:
            log_event(logger, "tls_reload_failed", logging.ERROR, error=error)
            return
        task = asyncio.get_running_loop().create_task(self._replace(material))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def _replace(self, material: TlsMaterial) -> None:
        async with self._lock:
            if material.generation == self._generation:
                return
            channel = self._build(material)
            try:
                await asyncio.wait_for(channel.channel_ready(), self._grace)
            except TimeoutError:
                log_event(
                    logger,
                    "ipamd_channel_not_ready",
                    logging.WARNING,
                    detail="switching to the renewed certificate anyway",
                )
            old, self._channel = self._channel, channel
            self.stub = ipam_pb2_grpc.IpamStub(channel)
            self._generation = material.generation
            replaced, self.replaced = self.replaced, asyncio.Event()
            replaced.set()
            self._report(material, "tls_certificate_renewed")
        await old.close(grace=self._grace)

    async def close(self) -> None:
        for task in list(self._closing):
            task.cancel()
        await self._channel.close(grace=None)
