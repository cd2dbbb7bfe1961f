"""The exception tree of podnet-churn; the CLI turns it into a message and exit status."""

from __future__ import annotations


class ChurnError(Exception):
    """Base class of every error podnet-churn raises on purpose."""


class TargetError(ChurnError):
    """The target (lab, node namespace, conflist, plugin dirs) is unusable."""


class ObservationError(ChurnError):
    """Kernel or allocator state could not be read after (or before) the run."""


class InvariantViolationError(ChurnError):
    """At least one invariant broke; the message lists every violation."""
