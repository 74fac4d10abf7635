"""export-log's merge of the per-partition applied logs into one log."""

from streams.export import merge_applied


def tick(at: str) -> bytes:
    return b'{"type":"tick","at":"%s"}' % at.encode()


def test_each_partitions_events_stay_between_the_same_ticks_and_each_tick_appears_once():
    t1, t2 = tick("2026-03-01T00:00:00Z"), tick("2026-03-02T00:00:00Z")
    merged = merge_applied({0: [b"a1", t1, b"a2", t2], 1: [b"b1", b"b2", t1, t2, b"b3"]})
    assert merged == [b"a1", b"b1", b"b2", t1, b"a2", t2, b"b3"]


def test_a_tick_applied_again_after_a_crash_is_dropped_and_the_rounds_stay_aligned():
    t1, t2, t3 = tick("2026-03-01T00:00:00Z"), tick("2026-03-02T00:00:00Z"), tick("2026-03-03T00:00:00Z")
    merged = merge_applied({0: [t1, b"a1", t1, t2, b"a2", t2, t3], 1: [t1, b"b1", t2, t3, b"b2"]})
    assert merged == [t1, b"a1", b"b1", t2, b"a2", t3, b"b2"]


def test_ticks_compare_as_times_not_as_text():
    # "…00.5Z" sorts before "…00Z" as text but is later as a time
    early, late = tick("2026-03-01T00:00:00Z"), tick("2026-03-01T00:00:00.5Z")
    assert merge_applied({0: [early, b"a", late, b"b"]}) == [early, b"a", late, b"b"]


def _contact(event_id: str, at: str) -> bytes:
    return (b'{"type":"contact","event_id":"%s","occurred_at":"%s","contact_id":"c-1","emails":[],"phones":[]}'
            % (event_id.encode(), at.encode()))


def _report(event_id: str, at: str) -> bytes:
    return (b'{"type":"delivery","event_id":"%s","occurred_at":"%s","channel":"email","address":"a@b.se",'
            b'"message_id":"m","status":"sent"}' % (event_id.encode(), at.encode()))


def test_contact_events_stand_where_their_time_puts_them_among_the_rest():
    """Issue 16: a contact event applied by its own partition after address events that came
    later in the log is exported before them, where a log in time order has it."""
    early, late = _report("r1", "2026-03-01T08:00:00Z"), _report("r2", "2026-03-01T10:00:00Z")
    contact = _contact("c1", "2026-03-01T09:00:00Z")
    t1 = tick("2026-03-01T12:00:00Z")
    merged = merge_applied({0: [early, late, t1], 1: [contact, t1]})
    assert merged == [early, contact, late, t1]
