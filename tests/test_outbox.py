"""A batch's outputs: internal records stay under the producer's request size."""

from __future__ import annotations

from streams.app import RECORD_BYTES, Outbox


def test_internal_records_are_split_under_the_size_limit_keeping_every_line_in_order():
    outbox = Outbox()
    lines = [(b'{"n":%d,"pad":"' % i) + b"x" * 300 + b'"}' for i in range(4000)]  # ~1.2 MB in all
    for line in lines:
        outbox.add("applied", 2, line)
    outbox.add("contact-commands", 1, b'{"one":1}')
    records = list(outbox.records())
    applied = [value for topic, key, partition, value in records if topic == "applied"]
    assert len(applied) > 4 and all(len(value) <= RECORD_BYTES for value in applied)
    assert b"\n".join(applied).split(b"\n") == lines
    assert [(t, p, v) for t, k, p, v in records if t == "contact-commands"] == [("contact-commands", 1, b'{"one":1}')]
