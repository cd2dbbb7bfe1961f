"""The reservation batcher's queue is bounded: past max_waiting, a reservation is refused
at once (LimitExceeded, RESOURCE_EXHAUSTED for the caller) and nothing is sent for it."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Sequence

import pytest

from ipamd.limits import QUEUED_RESERVATIONS, LimitExceeded
from ipamd.records import IpRecord, PodRef
from ipamd.reservation_batcher import ReservationBatcher
from ipamd.store import Reservation, ReserveOutcome, ReserveResult

pytestmark = pytest.mark.unit

RANGE = ipaddress.IPv4Network("10.244.1.0/24")


class HeldStore:
    """Answers every reservation RESERVED, once released; records what it was sent."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.sent: list[Reservation] = []

    async def reserve_addresses(
        self, reservations: Sequence[Reservation]
    ) -> list[ReserveResult | None]:
        self.sent += reservations
        await self.release.wait()
        return [ReserveResult(ReserveOutcome.RESERVED) for _ in reservations]


def reservation(n: int) -> Reservation:
    pod = PodRef("default", f"p{n}", f"u{n}")
    return Reservation(RANGE, RANGE.network_address + 2 + n, IpRecord(f"c{n}", "eth0", "n", pod))


async def test_a_full_queue_refuses_at_once_and_sends_nothing_for_the_refused() -> None:
    store = HeldStore()
    batcher = ReservationBatcher(store, max_batch=1, max_waiting=2)
    try:
        first = asyncio.create_task(batcher.reserve(reservation(0)))
        await asyncio.sleep(0.01)  # in flight: out of the queue
        waiting = [asyncio.create_task(batcher.reserve(reservation(n))) for n in (1, 2)]
        await asyncio.sleep(0.01)
        with pytest.raises(LimitExceeded) as refused:
            await batcher.reserve(reservation(3))
        assert refused.value.limit == QUEUED_RESERVATIONS
        store.release.set()
        results = await asyncio.gather(first, *waiting)
        assert all(r.outcome is ReserveOutcome.RESERVED for r in results)
        assert [r.record.container_id for r in store.sent] == ["c0", "c1", "c2"]
        # Room again once the queue drained.
        assert (await batcher.reserve(reservation(4))).outcome is ReserveOutcome.RESERVED
    finally:
        await batcher.close()
