"""Groups concurrent address reservations into one etcd transaction.

One transaction is in flight at a time; reservations that arrive meanwhile wait and go
together in the next one, so a lone request is sent at once and a busy replica sends a
few large transactions instead of many small ones. Each reservation keeps its own
create-if-absent compares and its range-claim compare, so the outcome of every request
is exactly what its own transaction would have given. When a batch's compares fail, the
same round trip tells which reservations caused it: those are answered, the others go
first into the next batch.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass

from ipamd.allocation_store import ReservationStore
from ipamd.errors import Contention
from ipamd.limits import QUEUED_RESERVATIONS, LimitExceeded
from ipamd.store import Reservation, ReserveResult

# 32 reservations need at most 96 compares and 96 reads: within etcd's default of 128
# operations of each kind per transaction.
MAX_BATCH = 32
MAX_WAITING = 8192


@dataclass
class _Waiting:
    reservation: Reservation
    attachment_key: tuple[str, str, str]
    answer: asyncio.Future[ReserveResult]


class ReservationBatcher:
    def __init__(
        self, store: ReservationStore, max_batch: int = MAX_BATCH, max_waiting: int = MAX_WAITING
    ) -> None:
        self._store = store
        self._max_batch = max_batch
        self._max_waiting = max_waiting
        self._waiting: deque[_Waiting] = deque()
        self._sender: asyncio.Task[None] | None = None

    async def reserve(self, reservation: Reservation) -> ReserveResult:
        """Same contract as one create-if-absent transaction for this reservation; raises
        LimitExceeded, reserving nothing, when max_waiting reservations already wait."""
        if len(self._waiting) >= self._max_waiting:
            raise LimitExceeded(
                QUEUED_RESERVATIONS,
                f"{len(self._waiting)} address reservations already wait for etcd; retry later",
            )
        record = reservation.record
        answer: asyncio.Future[ReserveResult] = asyncio.get_running_loop().create_future()
        key = (str(reservation.node_range), record.container_id, record.ifname)
        self._waiting.append(_Waiting(reservation, key, answer))
        if self._sender is None:
            self._sender = asyncio.create_task(self._send_all(), name="reservation-batcher")
        return await answer

    def _next_batch(self) -> list[_Waiting]:
        """Takes up to max_batch live reservations, at most one per attachment key (a retried
        call racing itself); the rest keep their place in the queue."""
        batch: list[_Waiting] = []
        keys: set[tuple[str, str, str]] = set()
        deferred: list[_Waiting] = []
        while self._waiting and len(batch) < self._max_batch:
            waiting = self._waiting.popleft()
            if waiting.answer.done():
                continue
            if waiting.attachment_key in keys:
                deferred.append(waiting)
                continue
            keys.add(waiting.attachment_key)
            batch.append(waiting)
        self._waiting.extendleft(reversed(deferred))
        return batch

    async def _send_all(self) -> None:
        try:
            while batch := self._next_batch():
                await self._send(batch)
        finally:
            self._sender = None
            for waiting in self._waiting:
                if not waiting.answer.done():
                    # Only reached when this task is cancelled (shutdown).
                    waiting.answer.cancel()

    async def _send(self, batch: list[_Waiting]) -> None:
        try:
            results = await self._store.reserve_addresses([w.reservation for w in batch])
        except Exception as error:
            for waiting in batch:
                if not waiting.answer.done():
                    waiting.answer.set_exception(error)
            return
        except asyncio.CancelledError:
            for waiting in batch:
                waiting.answer.cancel()
            raise
        if all(result is None for result in results):
            conflict = Contention("a batched reservation failed without a visible conflict")
            for waiting in batch:
                if not waiting.answer.done():
                    waiting.answer.set_exception(conflict)
            return
        undecided = []
        for waiting, result in zip(batch, results, strict=True):
            if result is None:
                undecided.append(waiting)
            elif not waiting.answer.done():
                waiting.answer.set_result(result)
        self._waiting.extendleft(reversed(undecided))

    async def close(self) -> None:
        if self._sender is not None:
            self._sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sender
