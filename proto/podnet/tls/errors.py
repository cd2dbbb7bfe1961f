"""What goes wrong with certificate files and the identities in them."""

from __future__ import annotations


class TlsError(Exception):
    """Base of every error of podnet.tls."""


class InvalidIdentity(TlsError):
    """A SPIFFE ID, role or name that podnet does not accept."""


class TlsFileError(TlsError):
    """A certificate or key file that is missing, unreadable or malformed."""


class MismatchedPair(TlsFileError):
    """A key file that does not belong to its certificate file (seen mid-rotation)."""
