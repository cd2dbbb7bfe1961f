"""How much of ipamd one caller may use: calls and streams in flight per identity, message
sizes, how long a call may run, how many reservations may wait for etcd.

A call beyond a limit ends in RESOURCE_EXHAUSTED with the trailer `podnet-limit: <name>`,
which tells a client "ipamd is busy, retry" apart from "the range is full" (the same
status without the trailer).
"""

from __future__ import annotations

from dataclasses import dataclass

from ipamd.errors import ConfigError

LIMIT_TRAILER = "podnet-limit"

CALLS_PER_IDENTITY = "calls_per_identity"
STREAMS_PER_IDENTITY = "streams_per_identity"
QUEUED_RESERVATIONS = "queued_reservations"


@dataclass(frozen=True)
class Limits:
    # An agent has at most a few dozen pod operations in flight; an operator's tools less.
    calls_per_identity: int = 256
    # An agent keeps one range stream open; a reconnect may overlap the old one briefly.
    streams_per_identity: int = 4
    call_timeout: float = 10.0  # seconds, on top of whatever deadline the caller set
    # Requests are a few hundred bytes; replies (a node's allocations, a snapshot of every
    # node's range) can be large.
    max_request_bytes: int = 64 * 1024
    max_reply_bytes: int = 16 * 1024 * 1024
    # Reservations waiting for their etcd transaction: 32 per round trip, so a full queue
    # is about 256 round trips of latency already.
    queued_reservations: int = 8192

    def __post_init__(self) -> None:
        for flag, value in (
            ("--max-calls-per-identity", self.calls_per_identity),
            ("--max-streams-per-identity", self.streams_per_identity),
            ("--max-request-bytes", self.max_request_bytes),
            ("--max-queued-reservations", self.queued_reservations),
        ):
            if value < 1:
                raise ConfigError(f"{flag}: must be at least 1, got {value}")
        if not self.call_timeout > 0:  # also NaN
            raise ConfigError(f"--call-timeout: must be positive, got {self.call_timeout}")

    def server_options(self) -> list[tuple[str, int]]:
        return [
            ("grpc.max_receive_message_length", self.max_request_bytes),
            ("grpc.max_send_message_length", self.max_reply_bytes),
        ]


class LimitExceeded(Exception):
    """A bounded resource is full; the caller should retry later."""

    def __init__(self, limit: str, message: str) -> None:
        super().__init__(message)
        self.limit = limit


class IdentitySlots:
    """At most `limit` slots held per key (a caller's identity) at once."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._held: dict[str, int] = {}

    def try_take(self, key: str) -> bool:
        held = self._held.get(key, 0)
        if held >= self.limit:
            return False
        self._held[key] = held + 1
        return True

    def give_back(self, key: str) -> None:
        held = self._held[key] - 1
        if held:
            self._held[key] = held
        else:
            del self._held[key]

    def held(self, key: str) -> int:
        return self._held.get(key, 0)
