"""The agent's exception tree (dataplane errors live in netagent.dataplane.errors).

Translated to CNI error codes in exactly one place: netagent.verbs.error_mapping.
"""

from __future__ import annotations


class AgentError(Exception):
    """Base of everything the agent raises on purpose."""


class ConfigError(AgentError):
    """A flag value the agent cannot run with."""


class AgentStartError(AgentError):
    """A start step failed; the message is the one line the operator sees."""


class NodeFenced(AgentError):
    """The node holds no pod range right now: ADD must be retried later."""


class IpamUnavailable(AgentError):
    """ipamd could not be reached, did not answer in time or dropped the call: the same
    (idempotent) call may succeed later."""


class IpamBusy(IpamUnavailable):
    """ipamd lost too many races with concurrent changes (gRPC ABORTED): retry later."""


class IpamFailed(AgentError):
    """ipamd failed the call itself (gRPC INTERNAL, UNKNOWN, DATA_LOSS): a bug in ipamd or
    a broken store, reported as such rather than as "try again later"."""


class IpamRangeExhausted(AgentError):
    """The node's pod range has no free address."""


class IpamRangeNotHeld(AgentError):
    """ipamd says this node does not hold the range it used."""


class IpamRejected(AgentError):
    """ipamd refused the request for another reason."""


class CheckMismatch(AgentError):
    """CHECK found the attachment differs from what ADD made."""
