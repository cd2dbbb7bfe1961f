"""What the kernel does not keep about a pod attachment: the CNI_NETNS its ADD named and
when that ADD completed. Recorded by wrapping the invocation handler; read by the admin
service (ListAttachments). Held in memory: attachments made before this agent process
started are not in it."""

from __future__ import annotations

import datetime
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Protocol

from podnet.v1 import cni_pb2

from netagent.dataplane.caller_view import CallerRoot


class Handler(Protocol):
    def __call__(
        self, invocation: cni_pb2.CniInvocation, caller_root: CallerRoot | None = None
    ) -> Awaitable[cni_pb2.CniOutcome]: ...


@dataclass(frozen=True)
class JournalEntry:
    netns: str
    since: datetime.datetime


class AttachmentJournal:
    def __init__(self) -> None:
        self._entries: dict[tuple[str, str], JournalEntry] = {}

    def get(self, container_id: str, ifname: str) -> JournalEntry | None:
        return self._entries.get((container_id, ifname))

    def keep_only(self, present: set[tuple[str, str]]) -> None:
        """Forgets attachments no longer present (removed by GC or reconcile, not DEL)."""
        for key in self._entries.keys() - present:
            del self._entries[key]

    def recording(self, handler: Handler) -> Handler:
        """handler, noting each successful ADD and forgetting each successful DEL."""

        async def record(
            invocation: cni_pb2.CniInvocation, caller_root: CallerRoot | None = None
        ) -> cni_pb2.CniOutcome:
            outcome = await handler(invocation, caller_root)
            if outcome.exit_code == 0:
                key = (invocation.container_id, invocation.ifname)
                if invocation.command == "ADD":
                    now = datetime.datetime.now(datetime.UTC)
                    self._entries[key] = JournalEntry(invocation.netns, now)
                elif invocation.command == "DEL":
                    self._entries.pop(key, None)
            return outcome

        return record
