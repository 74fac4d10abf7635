"""RULES.md §3: the status of one message over time, as a fold over its reports.

The fold keeps the standing final report and the standing pending one apart, so the
shown status is a function of the set of reports, whatever order they arrive in:
a final status beats a pending one; among finals the latest `occurred_at` stands
(on equal times the later in the log); once any `opened` report is known, a standing
`delivered` or `opened` shows as "Delivered (Opened)" at the latest open, so
`delivered` never replaces `opened`, whichever arrives first.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from projections.statuses import FINAL, LABELS, PENDING_RANK
from schemas.records import MessageRecord


class MessageState(msgspec.Struct, omit_defaults=True, gc=False):
    final: str | None = None
    final_at: datetime | None = None
    final_reason: str | None = None
    final_code: str | None = None
    opened_at: datetime | None = None
    opened_reason: str | None = None
    opened_code: str | None = None
    pending: str | None = None
    pending_at: datetime | None = None
    pending_reason: str | None = None
    pending_code: str | None = None
    deadline: datetime | None = None
    sendout_id: str | None = None
    contacts: list[str] = []
    # the latest time of any report, shown or not (RULES.md §7: when it may be forgotten)
    last_at: datetime | None = None

    @property
    def status(self) -> str:
        final = self.final
        if final is None:
            return self.pending or "unknown"
        if final == "delivered" and self.opened_at is not None:
            return "opened"
        return final

    @property
    def updated_at(self) -> datetime:
        final = self.final
        if final is None:
            return self.pending_at
        if final in ("delivered", "opened") and self.opened_at is not None:
            return self.opened_at
        return self.final_at

    def record(self, message_id: str, channel: str, address: str) -> MessageRecord:
        status = self.status
        if self.final is None:
            reason, code = self.pending_reason, self.pending_code
        elif status == "opened":
            reason, code = self.opened_reason, self.opened_code
        else:
            reason, code = self.final_reason, self.final_code
        return MessageRecord(message_id, channel, address, self.sendout_id, status, LABELS[status], reason, code,
                             self.updated_at)


def apply_report(
    message: MessageState,
    status: str,
    at: datetime,
    bounce_reason: str | None = None,
    bounce_code: str | None = None,
) -> None:
    """Fold one report into the message."""
    if message.last_at is None or at > message.last_at:
        message.last_at = at
    if status in FINAL:
        if status == "opened" and (message.opened_at is None or at >= message.opened_at):
            message.opened_at = at
            message.opened_reason = bounce_reason
            message.opened_code = bounce_code
        if message.final is None or at >= message.final_at:
            message.final = status
            message.final_at = at
            message.final_reason = bounce_reason
            message.final_code = bounce_code
            message.deadline = None
        return
    pending = "unknown" if status == "sent" else status
    current = message.pending
    if current is not None:
        rank, current_rank = PENDING_RANK[pending], PENDING_RANK[current]
        if rank < current_rank or (rank == current_rank and at < message.pending_at):
            return
    message.pending = pending
    message.pending_at = at
    message.pending_reason = bounce_reason
    message.pending_code = bounce_code


def first_report(
    status: str,
    at: datetime,
    bounce_reason: str | None,
    bounce_code: str | None,
    sendout_id: str | None,
    contacts: list[str],
) -> MessageState:
    """A message's state from its first report: what `apply_report` makes of a new message,
    built in one step because every message has a first report (and most have two)."""
    if status not in FINAL:
        return MessageState(pending="unknown" if status == "sent" else status, pending_at=at,
                            pending_reason=bounce_reason, pending_code=bounce_code,
                            sendout_id=sendout_id, contacts=contacts, last_at=at)
    if status == "opened":
        return MessageState(final=status, final_at=at, final_reason=bounce_reason, final_code=bounce_code,
                            opened_at=at, opened_reason=bounce_reason, opened_code=bounce_code,
                            sendout_id=sendout_id, contacts=contacts, last_at=at)
    return MessageState(final=status, final_at=at, final_reason=bounce_reason, final_code=bounce_code,
                        sendout_id=sendout_id, contacts=contacts, last_at=at)


def schedule(message: MessageState, due: datetime) -> bool:
    """Set a deadline for a message with no final status; the earliest deadline stands."""
    if message.final is not None or (message.deadline is not None and message.deadline <= due):
        return False
    message.deadline = due
    return True
