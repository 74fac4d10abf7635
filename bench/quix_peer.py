"""The peer of bench/peer_bench.py: a Quix Streams app doing bounceback's per-address job on
the same log, so the two are compared on the same broker, log and machine.

Per address (the record key `channel:address`), state in RocksDB with a changelog: the soft
bounces since the latest delivery; a delivery resets them; a hard bounce, or the 10th soft
bounce, blocks the address and produces one suppression record (keyed by the address) to
the output topic. Prints when it processed its first record and its EXPECTED-th.

Run by peer_bench with BROKER, TOPIC, OUTPUT, GROUP, STATE_DIR, EXPECTED and GUARANTEE
(at-least-once or exactly-once) in the environment. Needs `pip install .[bench]`.
"""

from __future__ import annotations

import os
import time

import msgspec
from quixstreams import Application

SOFT_BOUNCE_LIMIT = 10


class Report(msgspec.Struct):
    status: str = ""
    message_id: str = ""
    occurred_at: str = ""


class Suppression(msgspec.Struct):
    address: str
    reason: str
    at: str


decode = msgspec.json.Decoder(Report).decode
encode = msgspec.json.Encoder().encode


def block(value: bytes, key: bytes, timestamp, headers, state) -> bytes | None:
    """The address's next report; the suppression record when it blocks the address."""
    if state.get("blocked", False):
        return None
    report = decode(value)
    status = report.status
    if status in ("delivered", "opened"):
        if state.get("soft", 0):
            state.set("soft", 0)
        return None
    if status == "soft_bounce":
        soft = state.get("soft", 0) + 1
        state.set("soft", soft)
        if soft < SOFT_BOUNCE_LIMIT:
            return None
        reason = "soft_bounce_limit"
    elif status == "hard_bounce":
        reason = "hard_bounce"
    else:
        return None
    state.set("blocked", True)
    return encode(Suppression(key.decode(), reason, report.occurred_at))


def main() -> None:
    expected = int(os.environ["EXPECTED"])
    seen = 0

    def processed(topic: str, partition: int, offset: int) -> None:
        nonlocal seen
        seen += 1
        if seen == 1:
            print(f"FIRST {time.time()}", flush=True)
        if seen == expected:
            print(f"LAST {time.time()}", flush=True)
            app.stop()

    app = Application(
        broker_address=os.environ["BROKER"],
        consumer_group=os.environ["GROUP"],
        auto_offset_reset="earliest",
        processing_guarantee=os.environ["GUARANTEE"],
        state_dir=os.environ["STATE_DIR"],
        loglevel="WARNING",
        on_message_processed=processed,
    )
    source = app.topic(os.environ["TOPIC"], key_deserializer="bytes", value_deserializer="bytes")
    output = app.topic(os.environ["OUTPUT"], key_serializer="bytes", value_serializer="bytes")
    sdf = app.dataframe(source)
    sdf = sdf.apply(block, stateful=True, metadata=True).filter(lambda value: value is not None)
    sdf.to_topic(output)
    app.run()


if __name__ == "__main__":
    main()
