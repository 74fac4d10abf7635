"""The baseline of bench/pipeline_bench.py: a minimal faust agent doing one RocksDB table
update per event, with faust's defaults (only the embedded broker's workarounds and a
short session timeout, which the pipeline has too; EMBEDDED=1 for the workarounds). Prints when it saw its first event
and when it had seen EXPECTED of them."""

import os
import sys
import time

import faust

from streams.fence import tansu_end_offsets, tansu_leave_group

if os.environ.get("EMBEDDED"):
    tansu_leave_group()
    tansu_end_offsets()
expected = int(os.environ["EXPECTED"])
app = faust.App(
    os.environ["APP_ID"],
    broker=f"kafka://{os.environ['BROKER']}",
    store="rocksdb://",
    datadir=os.environ["DATADIR"],
    topic_partitions=int(os.environ["PARTITIONS"]),
    broker_session_timeout=4,
    broker_heartbeat_interval=1,
    consumer_auto_offset_reset="earliest",
    web_enabled=False,
)
source = app.topic(os.environ["TOPIC"], key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")
counts = app.Table("counts", default=int, key_type=str, value_type=int)
seen = 0


def mark(n: int) -> None:
    global seen
    before, seen = seen, seen + n
    if before == 0:
        print(f"FIRST {time.time()}", flush=True)
    if before < expected <= seen:
        print(f"LAST {time.time()}", flush=True)


if os.environ.get("MODE") == "empty":
    # faust's own cost of delivering events in batches to an agent that does nothing with them
    @app.agent(source)
    async def count(stream):
        async for events in stream.take_events(2000, within=0.05):
            mark(len(events))
else:
    @app.agent(source)
    async def count(stream):
        async for event in stream.events():
            counts[event.key.decode() if event.key else ""] += 1
            mark(1)


if __name__ == "__main__":
    sys.argv = [sys.argv[0], "worker", "-l", "warn"]
    app.main()
