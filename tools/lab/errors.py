"""The lab's exception tree; the CLI turns these into one message and exit status 1
(2 for LabUsageError)."""

from __future__ import annotations


class LabError(Exception):
    """Base class of every error the lab reports to its user."""


class LabUsageError(LabError):
    """A value given on the command line the lab cannot work with; nothing was changed."""


class LabExistsError(LabError):
    """Something with this prefix exists already but is not a healthy lab."""


class LabNotUpError(LabError):
    """The command needs a running lab and there is none with this prefix."""


class LabStartError(LabError):
    """A daemon died or the cluster did not converge in time during `up`."""


class PodError(LabError):
    """A pod could not be added or deleted through the CNI chain."""


class UnknownNodeError(LabError):
    """A node name that is not part of the lab."""


class LabBusyError(LabError):
    """Another podnet-lab command is changing this lab right now."""


class NodeControlError(LabError):
    """A node or ipamd control cannot be carried out (e.g. the control-plane cannot leave)."""
