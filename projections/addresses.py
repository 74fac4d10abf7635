"""RULES.md §4: the state of one address over time, as a fold over the events about it.

Every decision is taken by event time, so a late event lands where it happened and
the state does not depend on arrival order: a block caused before the latest unblock
is not applied; the soft-bounce limit blocks when that many soft bounces happened with
no delivery between them (a delivery report arriving late that happened inside such a
run shows the bounces were not consecutive); of an unsubscribe and a resubscribe the
later one stands (on equal times, the later in the log).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right, insort
from datetime import datetime, timedelta

import msgspec

from projections.messages import MessageState, apply_report, first_report, schedule
from projections.policy import Policy
from projections.statuses import DEFERRAL_EXPIRED_CODE, DELIVERIES, SOFT_BOUNCES, address_state
from schemas.events import BounceList, Delivery, Resubscribe, Unblock, Unsubscribe
from schemas.records import AddressRecord


class AddressState(msgspec.Struct, omit_defaults=True, gc=False):
    channel: str
    address: str
    updated_at: datetime
    # reason -> event time of its latest cause
    reasons: dict[str, datetime] = {}
    # message id -> time of its (latest) soft bounce, for soft bounces after the latest unblock
    soft: dict[str, datetime] = {}
    # times of the soft bounces of messages already forgotten (RULES.md §7), until they freeze
    orphans: list[datetime] = []
    # times of delivery reports after the latest unblock, sorted: they split soft bounces into runs
    deliveries: list[datetime] = []
    delivered_at: datetime | None = None
    unblocked_at: datetime | None = None
    unsubscribed_at: datetime | None = None
    complained_at: datetime | None = None
    resubscribed_at: datetime | None = None
    messages: dict[str, MessageState] = {}
    # RULES.md §7: soft bounces and deliveries so far behind the clock that no event to come
    # can fall among them are kept as two counts: the soft bounces after the latest of those
    # deliveries (the start of the run the kept soft bounces go on), and the longest run they
    # closed. `frozen_until` is the time of the latest of them.
    frozen_tail: int = 0
    frozen_longest: int = 0
    frozen_until: datetime | None = None

    @property
    def state(self) -> str:
        return address_state(self.reasons)

    def soft_times(self) -> list[datetime]:
        """The times of the soft bounces kept one by one."""
        return [*self.soft.values(), *self.orphans]

    def soft_count(self) -> int:
        """The current soft-bounce set: soft bounces after the latest delivery (and unblock)."""
        latest = self.delivered_at
        if self.orphans:
            times = self.soft_times()
        elif not self.soft:
            return 0 if self.deliveries else self.frozen_tail
        else:
            times = self.soft.values()
        count = len(times) if latest is None else len([t for t in times if t > latest])
        # the frozen ones come after the latest frozen delivery: they count until one is kept
        return count if self.deliveries else count + self.frozen_tail

    def longest_run(self) -> int:
        """The most soft bounces that happened with no delivery between them. A delivery
        ends the run of every soft bounce before it, and takes out the ones at its own time
        (RULES.md §4: it removes every soft bounce at or before it)."""
        runs: dict[int, int] = {0: self.frozen_tail} if self.frozen_tail else {}
        deliveries = self.deliveries
        for t in self.soft_times():
            segment = _run_of(deliveries, t)
            if segment is not None:
                runs[segment] = runs.get(segment, 0) + 1
        return max(self.frozen_longest, max(runs.values(), default=0))

    def record(self) -> AddressRecord:
        reasons = self.reasons
        return AddressRecord(self.channel, self.address, address_state(reasons), sorted(reasons),
                             self.soft_count(), self.updated_at)


def _run_of(deliveries: list[datetime], at: datetime) -> int | None:
    """The run (the gap between sorted deliveries) a soft bounce at `at` is in; None when a
    delivery happened at that very time, as it removes every soft bounce at or before it."""
    segment = bisect_left(deliveries, at)
    if segment < len(deliveries) and deliveries[segment] == at:
        return None
    return segment


class AddressOutcome(msgspec.Struct):
    """What one event did to one address, for its partition processor."""

    changed: bool = False  # the address record changed
    message_id: str | None = None  # the message the event reported on
    deadline: datetime | None = None  # a deadline newly set for that message
    new_contact: str | None = None  # a contact id the message's reports carry for the first time


def is_suppression_change(before: AddressRecord | None, after: AddressRecord) -> bool:
    """Whether the suppression topic gets `after`: every change of a suppressed address,
    and the change that lifts a suppression."""
    if after == before:
        return False
    return bool(after.reasons) or after.reasons != (before.reasons if before is not None else [])


def new_address(channel: str, address: str, at: datetime) -> AddressState:
    return AddressState(channel=channel, address=address, updated_at=at)


def _add_reason(a: AddressState, reason: str, at: datetime) -> bool:
    since = a.reasons.get(reason)
    if since is None:
        a.reasons[reason] = at
        return True
    if at > since:
        a.reasons[reason] = at
    return False


def _block(a: AddressState, reason: str, at: datetime) -> bool:
    if a.unblocked_at is not None and at < a.unblocked_at:
        return False
    return _add_reason(a, reason, at)


def _count_soft_bounce(a: AddressState, message_id: str, at: datetime, policy: Policy) -> bool:
    """Whether the record changed."""
    if a.unblocked_at is not None and at < a.unblocked_at:
        return False
    soft = a.soft
    before = soft.get(message_id)
    if before is not None and before >= at:
        return False
    count_before = a.soft_count()
    soft[message_id] = at
    blocked = False
    if a.channel == "email" and "soft_bounce_limit" not in a.reasons:
        deliveries = a.deliveries
        segment = _run_of(deliveries, at)
        if segment is not None:
            low = deliveries[segment - 1] if segment else None
            high = deliveries[segment] if segment < len(deliveries) else None
            run = sum(1 for t in a.soft_times() if (low is None or t > low) and (high is None or t < high))
            if not segment:
                run += a.frozen_tail
            blocked = run >= policy.soft_bounce_limit and _add_reason(a, "soft_bounce_limit", at)
    return blocked or a.soft_count() != count_before


def _count_delivery(a: AddressState, at: datetime, policy: Policy) -> bool:
    """Whether the record changed."""
    if a.unblocked_at is not None and at < a.unblocked_at:
        return False
    any_soft = a.soft or a.orphans or a.frozen_tail
    count_before = a.soft_count() if any_soft else 0
    deliveries = a.deliveries
    if not deliveries or at >= deliveries[-1]:
        deliveries.append(at)  # the common case, reports in time order: where insort puts it
    else:
        insort(deliveries, at)
    if a.delivered_at is None or at > a.delivered_at:
        a.delivered_at = at
    if not any_soft:
        return False  # the common case: no soft bounce to take out of the count or to split into runs
    lifted = False
    latest_soft = max(a.soft_times(), default=None)  # frozen ones are all earlier than any report to come
    if "soft_bounce_limit" in a.reasons and latest_soft is not None and at <= latest_soft:
        # a late report of a delivery inside the run that blocked (or at the time of its
        # last soft bounce): the run was not consecutive
        if a.longest_run() < policy.soft_bounce_limit:
            del a.reasons["soft_bounce_limit"]
            lifted = True
    return lifted or a.soft_count() != count_before


def _opt_out(a: AddressState, reason: str, at: datetime) -> bool:
    if reason == "complaint":
        if a.complained_at is None or at > a.complained_at:
            a.complained_at = at
    elif a.unsubscribed_at is None or at > a.unsubscribed_at:
        a.unsubscribed_at = at
    if a.resubscribed_at is not None and at < a.resubscribed_at:
        return False
    return _add_reason(a, reason, at)


def apply_delivery(a: AddressState, ev: Delivery, policy: Policy) -> AddressOutcome:
    message_id, status, at, contact_id = ev.message_id, ev.status, ev.occurred_at, ev.contact_id
    messages = a.messages
    message = messages.get(message_id)
    if message is None:
        message = messages[message_id] = first_report(
            status, at, ev.bounce_reason, ev.bounce_code, ev.sendout_id, [] if contact_id is None else [contact_id])
        new_contact = contact_id
    else:
        new_contact = None
        if message.sendout_id is None:
            message.sendout_id = ev.sendout_id
        if contact_id is not None and contact_id not in message.contacts:
            message.contacts.append(contact_id)
            new_contact = contact_id
        apply_report(message, status, at, ev.bounce_reason, ev.bounce_code)
    # the statuses by how often they come: a `sent` for every message, then deliveries
    deadline = None
    changed = False
    if status == "sent":
        if a.channel == "sms" and schedule(message, at + policy.sms_validity):
            deadline = message.deadline
    elif status in DELIVERIES:
        changed = _count_delivery(a, at, policy)
    elif status in SOFT_BOUNCES[a.channel]:
        changed = _count_soft_bounce(a, message_id, at, policy)
    elif status == "deferred":
        if schedule(message, at + policy.deferral_timeout):
            deadline = message.deadline
    elif status == "hard_bounce":
        changed = _block(a, "hard_bounce", at)
    elif status == "complained":
        changed = _opt_out(a, "complaint", at)
    if changed:
        a.updated_at = at
    return AddressOutcome(changed, message_id, deadline, new_contact)


def fire_deadline(a: AddressState, message_id: str, due: datetime, policy: Policy) -> AddressOutcome | None:
    """RULES.md §3: a deferral unresolved at its deadline is a soft bounce; an SMS with no
    final status at the end of its validity has expired. None when the deadline is stale."""
    message = a.messages.get(message_id)
    if message is None or message.final is not None or message.deadline != due:
        return None
    if a.channel == "email":
        hours = int(policy.deferral_timeout.total_seconds() // 3600)
        apply_report(message, "soft_bounce", due, f"deferred for {hours} hours", DEFERRAL_EXPIRED_CODE)
    else:
        apply_report(message, "validity_expired", due)
    outcome = AddressOutcome(message_id=message_id)
    outcome.changed = _count_soft_bounce(a, message_id, due, policy)
    if outcome.changed:
        a.updated_at = due
    return outcome


def apply_unsubscribe(a: AddressState, ev: Unsubscribe) -> AddressOutcome:
    return _changed(a, ev.occurred_at, _opt_out(a, "unsubscribed", ev.occurred_at))


def apply_resubscribe(a: AddressState, ev: Resubscribe) -> AddressOutcome:
    at = ev.occurred_at
    if a.resubscribed_at is None or at > a.resubscribed_at:
        a.resubscribed_at = at
    changed = False
    for reason, since in (("unsubscribed", a.unsubscribed_at), ("complaint", a.complained_at)):
        if reason in a.reasons and at >= since:
            del a.reasons[reason]
            changed = True
    return _changed(a, at, changed)


def apply_bounce_list(a: AddressState, ev: BounceList) -> AddressOutcome:
    at = ev.occurred_at
    if ev.list == "bounced":
        return _changed(a, at, _block(a, "bounce_list", at))
    return _changed(a, at, _opt_out(a, "unsubscribed", at))


def apply_unblock(a: AddressState, ev: Unblock, policy: Policy) -> AddressOutcome:
    at = ev.occurred_at
    if a.unblocked_at is None or at > a.unblocked_at:
        a.unblocked_at = at
    reasons_before = set(a.reasons)
    count_before = a.soft_count()
    for reason in ("hard_bounce", "bounce_list"):
        since = a.reasons.get(reason)
        if since is not None and since <= at:
            del a.reasons[reason]
    # the soft-bounce block is decided again from the runs that remain
    a.reasons.pop("soft_bounce_limit", None)
    # soft bounces and deliveries at or before the unblock never count again
    a.soft = {m: t for m, t in a.soft.items() if t > at}
    a.orphans = [t for t in a.orphans if t > at]
    a.deliveries = [t for t in a.deliveries if t > at]
    if a.frozen_until is not None and at >= a.frozen_until:
        a.frozen_tail = a.frozen_longest = 0
        a.frozen_until = None
    if a.channel == "email" and a.longest_run() >= policy.soft_bounce_limit:
        # an unblock older than a whole run of soft bounces leaves its block in place
        _add_reason(a, "soft_bounce_limit", max(a.soft_times(), default=at))
    return _changed(a, at, set(a.reasons) != reasons_before or a.soft_count() != count_before)


def _changed(a: AddressState, at: datetime, changed: bool) -> AddressOutcome:
    if changed:
        a.updated_at = at
    return AddressOutcome(changed=changed)


def apply_address_event(a: AddressState, ev, policy: Policy) -> AddressOutcome:
    kind = type(ev)
    if kind is Delivery:
        return apply_delivery(a, ev, policy)
    if kind is Unsubscribe:
        return apply_unsubscribe(a, ev)
    if kind is Resubscribe:
        return apply_resubscribe(a, ev)
    if kind is BounceList:
        return apply_bounce_list(a, ev)
    if kind is Unblock:
        return apply_unblock(a, ev, policy)
    raise TypeError(f"not an address event: {kind.__name__}")


def forget(a: AddressState, clock: datetime, policy: Policy) -> tuple[list[tuple[str, MessageState]], datetime | None]:
    """RULES.md §7: what the address no longer needs at `clock` goes, without changing any
    output for a log whose reports are never too late and lie within the horizon H of their
    message's other reports:

    - a message whose latest report is more than 2H behind the clock (and whose deadline, if
      it has one, has fired): a report within H of it can no longer come without being too
      late (the spec's "older than H" would forget a message a report within H of it can
      still reach, and change the card; docs/decisions.md);
    - soft bounces of forgotten messages and deliveries that no event to come can fall among
      (before every report still to come, every pending deadline and every soft bounce a
      message still kept may move) are frozen into two counts.

    Returns the messages forgotten, and when the address may next have something to forget
    (None: nothing)."""
    horizon = policy.lateness_horizon
    frontier = clock - horizon
    too_old = frontier - horizon
    forgotten = []
    first_kept = None  # the earliest latest-report (or pending deadline) of the messages kept
    for message_id, message in a.messages.items():
        pending = message.final is None and message.deadline is not None
        if message.last_at < too_old and not pending:
            forgotten.append((message_id, message))
            continue
        last = message.last_at
        if pending:
            # no event to come happens before a pending deadline's soft bounce
            frontier = min(frontier, message.deadline)
            last = max(last, message.deadline)
        if first_kept is None or last < first_kept:
            first_kept = last
    for message_id, message in forgotten:
        del a.messages[message_id]
        at = a.soft.pop(message_id, None)
        if at is not None:
            a.orphans.append(at)
    if a.soft:  # a kept message's soft bounce may still move
        frontier = min(frontier, min(a.soft.values()))
    if a.deliveries or a.orphans:
        _freeze(a, frontier)
    # next: a kept message 2H after its latest report; a delivery or orphan H after it, once
    # no kept message holds it back (what one holds back frees when that message goes)
    due = [first_kept + 2 * horizon] if first_kept is not None else []
    cutoff = clock - horizon
    later = bisect_right(a.deliveries, cutoff)
    if later < len(a.deliveries):
        due.append(a.deliveries[later] + horizon)
    later_orphans = [t for t in a.orphans if t > cutoff]
    if later_orphans:
        due.append(min(later_orphans) + horizon)
    # a thing exactly that far behind is not yet more than that far behind
    return forgotten, min(due) + JUST_AFTER if due else None


def _freeze(a: AddressState, frontier: datetime) -> None:
    """Fold the deliveries and orphaned soft bounces before `frontier` into the frozen counts
    (they come after everything frozen before, so the walk goes on from its tail)."""
    deliveries = a.deliveries
    frozen = bisect_left(deliveries, frontier)
    orphans = sorted(t for t in a.orphans if t < frontier)
    if not frozen and not orphans:
        return
    tail, longest, d = a.frozen_tail, a.frozen_longest, 0
    for t in orphans:
        while d < frozen and deliveries[d] < t:
            longest, tail, d = max(longest, tail), 0, d + 1
        if d < frozen and deliveries[d] == t:
            continue  # at the time of a delivery: in no run (RULES.md §4)
        tail += 1
    if d < frozen:
        longest, tail = max(longest, tail), 0
    a.frozen_tail, a.frozen_longest = tail, longest
    latest = max(orphans[-1:] + deliveries[frozen - 1:frozen])
    a.frozen_until = latest if a.frozen_until is None else max(a.frozen_until, latest)
    del deliveries[:frozen]
    a.orphans = [t for t in a.orphans if t >= frontier]


JUST_AFTER = timedelta(microseconds=1)
