"""How long certificates are valid: backdated a little so that a peer whose clock runs
behind does not refuse a certificate issued a moment ago."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

CA_DAYS = 3650
LEAF_DAYS = 365
CLOCK_SKEW = datetime.timedelta(minutes=5)


@dataclass(frozen=True)
class Validity:
    not_before: datetime.datetime
    not_after: datetime.datetime

    def __post_init__(self) -> None:
        if self.not_after <= self.not_before:
            raise ValueError("a certificate must end after it starts")

    @classmethod
    def days_from_now(cls, days: int, now: datetime.datetime | None = None) -> Validity:
        if days < 1:
            raise ValueError(f"validity of {days} days: it must be at least 1 day")
        start = now or datetime.datetime.now(datetime.UTC)
        return cls(start - CLOCK_SKEW, start + datetime.timedelta(days=days))
