"""The fence around faust and aiokafka (streams/fence.py): checked against the installed
versions, refusing to start on versions that lack what it corrects, and installed on a
real faust consumer."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest
import rocksdict
from faust.exceptions import ProducerSendError
from aiokafka.structs import TopicPartition

from streams import fence
from streams.commit_gate import CommitGate
from streams.settings import Settings, Topics

ROOT = Path(__file__).resolve().parent.parent


def test_everything_the_fence_replaces_or_reads_is_there_in_the_installed_versions():
    assert fence.installed_versions() == fence.TESTED, "the versions installed are the versions tested"
    assert [reach for reach in fence.REACHES if reach.missing()] == []


def test_pyproject_pins_the_tested_versions_and_the_image_installs_from_it():
    dependencies = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    for name, version in fence.TESTED.items():
        assert f"{name}=={version}" in dependencies
    # the image installs the project itself, so its pins are pyproject.toml's
    runs = [line for line in (ROOT / "Dockerfile").read_text().splitlines() if line.startswith("RUN ")]
    assert any(re.search(r"pip install .* \.$", line) for line in runs)
    assert not any(name in line for line in runs for name in fence.TESTED)


@pytest.mark.parametrize("reach, missing", [
    (fence.Reach("faust.transport.consumer:Consumer", "_new_offset_renamed"),
     "faust.transport.consumer:Consumer._new_offset_renamed"),
    (fence.Reach("faust.transport.consumer:Consumer", "_acked_by_partition", "self"),
     "faust.transport.consumer:Consumer: self._acked_by_partition"),
    (fence.Reach("faust.transport.drivers.aiokafka:Producer", "send(transaction_id)", "keyword"),
     "faust.transport.drivers.aiokafka:Producer.send(transaction_id=)"),
    (fence.Reach("faust.transport.no_such_module:Consumer", "commit"), "faust.transport.no_such_module:Consumer"),
])
def test_a_version_lacking_something_the_fence_touches_is_refused_naming_the_versions(reach, missing):
    with pytest.raises(fence.FenceError) as refused:
        fence.verify([fence.Reach("faust.transport.consumer:Consumer", "_new_offset"), reach])
    message = str(refused.value)
    assert missing in message
    assert "faust-streaming 0.15.3" in message and "aiokafka 0.14.0" in message
    assert "1 thing(s)" in message


def test_the_worker_refuses_to_start_on_such_a_version(monkeypatch):
    from streams.app import Pipeline

    monkeypatch.setattr(fence, "REACHES", [*fence.REACHES, fence.Reach("faust.app.base:App", "renamed_in_0_16")])
    with pytest.raises(fence.FenceError, match="renamed_in_0_16"):
        Pipeline(Settings(topics=Topics("fence-refused"), processing_guarantee="at_least_once"))


def test_the_consumer_faust_creates_hands_the_agents_records_to_their_intakes_whole(tmp_path):
    from streams.app import Pipeline

    async def scenario():
        pipeline = Pipeline(Settings(topics=Topics("fence"), datadir=str(tmp_path),
                                     processing_guarantee="at_least_once"))
        consumer = pipeline.app.consumer
        inbound = TopicPartition("fence.events", 1)
        commands = TopicPartition("fence.contact-commands", 2)
        changelog = TopicPartition("fence-addresses-changelog", 1)
        fetched = {inbound: [SimpleNamespace(topic=inbound.topic, partition=1, offset=o) for o in (7, 8)],
                   commands: [SimpleNamespace(topic=commands.topic, partition=2, offset=3)],
                   changelog: [SimpleNamespace(topic=changelog.topic, partition=1, offset=40)]}

        async def faust_wait_next_records(timeout):
            return dict(fetched), None

        consumer._wait_next_records = faust_wait_next_records  # what aiokafka fetched
        fence._divert_fetches(pipeline, consumer, pipeline.ledger)
        pipeline.app.flow_control.resume()
        left, _ = await consumer._wait_next_records(1.0)
        assert list(left) == [changelog], "faust still gets the changelog (recovery) records"
        taken = await pipeline.address_intake.take(10, 0)
        assert [(tp, [r.offset for r in records]) for tp, records in taken] == [(inbound, [7, 8])]
        taken = await pipeline.contact_intake.take(10, 0)
        assert [(tp, [r.offset for r in records]) for tp, records in taken] == [(commands, [3])]

        # while faust's flow is stopped (a rebalance) nothing is delivered: the seek to the
        # committed offsets that ends it fetches the records again
        consumer.stop_flow()
        await consumer._wait_next_records(1.0)
        assert len(pipeline.address_intake) == 0 and len(pipeline.contact_intake) == 0
        consumer.resume_flow()
        await consumer._wait_next_records(1.0)
        assert len(pipeline.address_intake) == 2
        pipeline.app.flow_control.clear()  # faust clears its stream queues: the intakes too
        assert len(pipeline.address_intake) == 0

        # a partition piling up in the intake is not fetched until it is taken; faust's sets
        # of active partitions hold its own TP tuples (aiokafka's failed its assertion)
        consumer._set_active_tps({inbound})
        pipeline.address_intake.on_full(inbound)
        assert consumer._get_active_partitions() == set()
        pipeline.address_intake.on_drained(inbound)
        assert consumer._get_active_partitions() == {inbound}

    asyncio.run(scenario())


def test_commits_take_the_agents_partitions_from_the_ledger_as_aiokafka_wants_them(tmp_path):
    from aiokafka.util import commit_structure_validate

    from streams.app import Pipeline

    async def scenario():
        pipeline = Pipeline(Settings(topics=Topics("fence3"), datadir=str(tmp_path),
                                     processing_guarantee="at_least_once"))
        consumer = pipeline.app.consumer
        inbound, idle = TopicPartition("fence3.events", 0), TopicPartition("fence3.events", 1)
        consumer.assignment = lambda: {inbound, idle}  # faust's TP tuples, as the thread answers
        pipeline.ledger.fetched({inbound: [SimpleNamespace(offset=o) for o in (5, 6, 7)]})
        pipeline.ledger.processed(inbound.topic, 0, [5, 6])
        tps = list(consumer._filter_tps_with_pending_acks())
        assert tps == [inbound], "the partition with work processed, none idle"
        offsets = {tp: consumer._new_offset(tp) for tp in tps}
        assert offsets == {inbound: 7}, "up to what was processed: 7 is fetched, not processed"
        commit_structure_validate(offsets)  # what aiokafka checks before committing them

    asyncio.run(scenario())


def test_install_corrects_the_consumer_when_faust_creates_it(tmp_path):
    from streams.app import Pipeline

    async def scenario():
        pipeline = Pipeline(Settings(topics=Topics("fence2"), datadir=str(tmp_path),
                                     processing_guarantee="exactly_once"))
        pipeline.app.in_worker = True  # as faust's Worker sets it: transactions are on
        consumer = pipeline.app.consumer
        names = {name: getattr(consumer, name).__qualname__ for name in (
            "_wait_next_records", "_new_offset", "_filter_tps_with_pending_acks", "force_commit",
            "perform_seek", "on_partitions_revoked", "commit_and_end_transactions")}
        assert [name for name, qualname in names.items() if "<locals>" not in qualname] == []
        assert consumer._thread._fetch_records.__qualname__.startswith("_divert_fetches.<locals>")
        assert consumer._thread._highwaters.__qualname__.startswith("_highwaters_from_broker.<locals>")
        assert consumer.transactions.on_rebalance.__qualname__.startswith("_producers_follow_assignment.")
        assert pipeline.app.producer.commit_transactions.__qualname__.startswith("_commit_transactions_concurrently.")
        assert pipeline.app.conf.broker_commit_interval == 0.1, "exactly-once commits every 100 ms"

    asyncio.run(scenario())


def test_commits_go_through_the_gate_once_the_batch_in_flight_is_done_and_after_a_flush():
    class Consumer:
        calls = 0

        async def force_commit(self, topics=None):
            self.calls += 1
            return True

    async def scenario():
        gate, consumer, flushed = CommitGate(), Consumer(), []

        async def flush():
            flushed.append(consumer.calls)

        fence._gate_commits(gate, consumer, flush)
        await gate.enter()
        pending = asyncio.create_task(consumer.force_commit())
        await asyncio.sleep(0.01)
        assert consumer.calls == 0, "the commit waits while a batch is in flight"
        gate.leave()
        assert await pending is True
        return consumer.calls, flushed

    assert asyncio.run(scenario()) == (1, [0]), "one commit, flushed once before it"


def test_the_worker_command_refuses_to_start_with_the_versions_in_its_message(monkeypatch):
    from streams.worker import run_worker

    monkeypatch.setattr(fence, "REACHES", [fence.Reach("faust.transport.consumer:Consumer", "_gone_in_0_16")])
    # the check comes first: no broker is needed to be refused
    with pytest.raises(SystemExit) as refused:
        run_worker(Settings(broker="127.0.0.1:1", topics=Topics("refused")))
    assert "faust-streaming 0.15.3" in str(refused.value.code) and "_gone_in_0_16" in str(refused.value.code)


def test_a_batchs_table_writes_are_stored_in_order_once_their_changelog_is_acknowledged(tmp_path):
    import faust

    app = faust.App("fence-writes", store="rocksdb://", datadir=str(tmp_path), key_serializer="raw",
                    value_serializer="raw")
    table = app.Table("things", key_type=bytes, value_type=bytes, partitions=4)
    producer = _BatchingProducer(capacity=2)

    anchor = fence.PartitionAnchor("fence-writes.events", 2)
    with fence.partition_context(anchor):
        table[b"old"] = b"0"  # faust's own path (a changelog record in its buffer)

    async def scenario():
        writes = fence.TableWrites(2)
        writes.set(table, b"a", b"1")
        writes.set(table, b"b", b"2")
        writes.delete(table, b"old")
        writes.set(table, b"b", b"3")
        writes.delete(table, b"a")
        with fence.partition_context(anchor):
            assert table.get(b"a") is None and table.get(b"old") == b"0", "nothing stored before the acks"
        fake = SimpleNamespace(producer=SimpleNamespace(_ensure_producer=lambda: producer), in_transaction=False)
        sent = await fence.send_records(fake, None, writes.records())
        await asyncio.gather(*(batch.future for batch in sent))
        writes.store(fake, sent)

    asyncio.run(scenario())
    changelog = "fence-writes-things-changelog"
    # in order, in batches of at most two records
    assert producer.batches == [(changelog, 2, [(b"a", b"1"), (b"b", b"2")]), (changelog, 2, [(b"old", None), (b"b", b"3")]),
                                (changelog, 2, [(b"a", None)])]
    with fence.partition_context(anchor):
        assert (table.get(b"a"), table.get(b"b"), table.get(b"old")) == (None, b"3", None)
    # offsets 0-1, 2-3 and 4: the local store holds the changelog up to 4
    assert table.data.persisted_offset(TopicPartition(changelog, 2)) == 4


class _BatchingProducer:
    """aiokafka's producer as send_records uses it, with record batches of `capacity` records,
    offsets counted from 0 per topic partition, and a key's partition its length."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.batches: list[tuple[str, int, list]] = []
        self.client = SimpleNamespace(_wait_on_metadata=self._metadata)

    async def _metadata(self, topic):
        return None

    def _partition(self, topic, partition, key, value, serialized_key, serialized_value):
        return len(serialized_key)

    def create_batch(self):
        capacity = self.capacity

        class Builder(list):
            def append(self, *, timestamp, key, value):
                if len(self) == capacity:
                    return None
                super().append((key, value))
                return True

        return Builder()

    async def send_batch(self, builder, topic, *, partition):
        offset = sum(len(records) for t, p, records in self.batches if (t, p) == (topic, partition))
        self.batches.append((topic, partition, list(builder)))
        future = asyncio.get_running_loop().create_future()
        future.set_result(SimpleNamespace(offset=offset))
        return future


def test_records_are_sent_in_batches_per_topic_partition_in_order_and_keyed_ones_partitioned_by_key():
    producer = _BatchingProducer(capacity=3)
    fake = SimpleNamespace(producer=SimpleNamespace(_ensure_producer=lambda: producer))
    records = [("out", None, 0, b"1"), ("keyed", b"abc", None, b"k1"), ("out", None, 0, b"2"), ("out", None, 1, b"x"),
               ("out", None, 0, b"3"), ("out", None, 0, b"4"), ("keyed", b"de", None, b"k2")]

    async def scenario():
        return await fence.send_records(fake, None, records)

    sent = asyncio.run(scenario())
    assert producer.batches == [("out", 0, [(None, b"1"), (None, b"2"), (None, b"3")]),
                                ("out", 0, [(None, b"4")]), ("keyed", 3, [(b"abc", b"k1")]),
                                ("out", 1, [(None, b"x")]), ("keyed", 2, [(b"de", b"k2")])]
    assert [(b.topic, b.partition, b.count, b.last_offset()) for b in sent] == [
        ("out", 0, 3, 2), ("out", 0, 1, 3), ("keyed", 3, 1, 0), ("out", 1, 1, 0), ("keyed", 2, 1, 0)]


def test_sending_in_a_transaction_whose_producer_is_gone_says_so_as_faust_does():
    fake = SimpleNamespace(producer=SimpleNamespace(_transaction_producers={}, _trn_locks={}))

    async def scenario():
        await fence.send_records(fake, "app-0-3", [("out", None, 3, b"1")])

    with pytest.raises(ProducerSendError, match="No transaction producer found for : app-0-3"):
        asyncio.run(scenario())


_WRITE_AND_EXIT = """
import asyncio, gc, os, sys
import rocksdict
from streams.app import Pipeline
from streams.settings import Settings, Topics

async def start():  # as the worker starts: faust makes its consumer
    pipeline = Pipeline(Settings(topics=Topics("fence-wal"), datadir=sys.argv[1], processing_guarantee="at_least_once"))
    pipeline.app.consumer
    return pipeline

pipeline = asyncio.run(start())
store = pipeline.addresses.data
batch = rocksdict.WriteBatch(raw_mode=True)
batch.put(b"email:a@example.com", b"entry")
store._db_for_partition(1).write(batch)
if sys.argv[2] == "drop":  # as faust's Store.stop does
    store._dbs.clear()
    gc.collect()
os._exit(0)  # no interpreter shutdown: what a SIGKILL leaves
"""


@pytest.mark.parametrize("ending, kept", [("exit", False), ("drop", True)])
def test_the_tables_rocksdb_writes_skip_its_write_ahead_log_and_a_dropped_one_is_flushed(tmp_path, ending, kept):
    """With no write-ahead log a write not yet flushed is gone after a hard exit (the
    changelog restores it); a database dropped, as faust's stop drops them, is flushed."""
    subprocess.run([sys.executable, "-c", _WRITE_AND_EXIT, str(tmp_path), ending], check=True, cwd=ROOT)
    paths = list(tmp_path.rglob("*addresses*-1.db"))
    assert len(paths) == 1, list(tmp_path.rglob("*"))
    db = rocksdict.Rdict(str(paths[0]), options=rocksdict.Options(raw_mode=True))
    try:
        assert (db.get(b"email:a@example.com") == b"entry") is kept
    finally:
        db.close()


def test_no_standby_replicas_unless_asked_for(tmp_path):
    """Each standby replica makes every worker apply other workers' changelogs record by
    record: off by default (as in Kafka Streams), on with --standby-replicas (the Kafka
    lane's takeover test runs both through the command line)."""
    from streams.app import Pipeline

    def pipeline(name: str, **settings) -> Pipeline:
        return Pipeline(Settings(topics=Topics(name), datadir=str(tmp_path / name),
                                 processing_guarantee="at_least_once", **settings))

    assert pipeline("standby0").app.conf.table_standby_replicas == 0
    assert pipeline("standby1", standby_replicas=1).app.conf.table_standby_replicas == 1
