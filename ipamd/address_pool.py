"""The free-address index of one node range, in next-fit order. Pure, no I/O.

Free offsets wait in a FIFO queue: `take` pops from the front and a freed
offset joins the back, so a released address is the last to be handed out
again. Offsets marked used while still queued are skipped (and dropped) when
they reach the front, so every operation is amortised O(1) however full the
range is. The pool is only a hint: etcd's compares decide who gets an address.
"""

from __future__ import annotations

from collections import deque


class AddressPool:
    def __init__(self, offsets: range, start: int = 0) -> None:
        """offsets: the assignable offsets of the range; start: where the first pass begins."""
        pivot = start % len(offsets) if len(offsets) else 0
        self._queue: deque[int] = deque(offsets[pivot:])
        self._queue.extend(offsets[:pivot])
        self._queued: set[int] = set(offsets)
        self._used: set[int] = set()
        self._offsets = offsets

    def __contains__(self, offset: int) -> bool:
        return offset in self._offsets

    @property
    def used_count(self) -> int:
        return len(self._used)

    def mark_used(self, offset: int) -> None:
        self._used.add(offset)

    def mark_free(self, offset: int) -> None:
        self._used.discard(offset)
        if offset not in self._queued and offset in self._offsets:
            self._queued.add(offset)
            self._queue.append(offset)

    def take(self) -> int | None:
        """The next free offset, removed from the queue; None when none is free."""
        while self._queue:
            offset = self._queue.popleft()
            self._queued.discard(offset)
            if offset not in self._used:
                return offset
        return None

    def give_back(self, offset: int) -> None:
        """Returns an offset taken but not used (the attempt failed for another reason)."""
        if offset not in self._used and offset not in self._queued:
            self._queued.add(offset)
            self._queue.appendleft(offset)
