"""Crash and fault tests: whatever happens to workers and broker mid-run, the outputs end
equal to `bounceback replay` of the same log. They need exactly-once (transactions) and a
broker that keeps its data across a restart, so they run in the Apache Kafka lane.

Each prints what it did; `BOUNCEBACK_CRASH_SEED=N` repeats a run's random points, and
`BOUNCEBACK_CRASH_EVENTS` / `BOUNCEBACK_CRASH_KILLS` change its size."""

from __future__ import annotations

import os
import random
import signal
import time
from collections import Counter

import msgspec
import pytest

from tests.integration.conftest import BROKER
from tests.integration.workload import write_workload

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(BROKER != "kafka", reason="needs Apache Kafka: transactions, and data that outlives a "
                                                 "broker restart (BOUNCEBACK_TEST_BROKER=kafka)"),
]

EVENTS = int(os.environ.get("BOUNCEBACK_CRASH_EVENTS", 200_000))
KILLS = int(os.environ.get("BOUNCEBACK_CRASH_KILLS", 10))


def seeded() -> random.Random:
    seed = int(os.environ.get("BOUNCEBACK_CRASH_SEED") or random.SystemRandom().randrange(2**32))
    print(f"[crash] seed {seed} (BOUNCEBACK_CRASH_SEED={seed} repeats the random points)")
    return random.Random(seed)


def wait_for_progress(cluster, share: float, timeout: float = 900) -> float:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        done = cluster.progress()
        if done >= share:
            return done
        time.sleep(0.3)
    raise TimeoutError(f"the consumer group did not commit {share:.0%} of the input")


def assert_equal_to_replay(cluster, log, started: float) -> None:
    cluster.wait_idle(timeout=900)
    expected = cluster.replay(log, "replay")
    mismatches = cluster.mismatches(expected)
    print(f"[crash] {len(expected[0])} suppressions, {len(expected[1])} contact cards compared with replay: "
          f"{len(mismatches)} mismatches, {time.monotonic() - started:.0f} s")
    assert not mismatches, "\n".join(mismatches[:20])


def assert_every_event_applied_once(cluster, log) -> None:
    """The exported log (the applied topic, read committed) holds every event of the log
    exactly once: none applied twice, none skipped (streams/eos.py: faust could commit past
    a record it had fetched and not processed)."""
    exported = cluster.workdir / "export.jsonl"
    cluster.cli("export-log", "--out", str(exported))

    def ids(path):
        return Counter(msgspec.json.decode(line).get("event_id") or f"tick {msgspec.json.decode(line)['at']}"
                       for line in path.read_bytes().splitlines())

    applied, logged = ids(exported), ids(log)
    twice = [event_id for event_id, n in applied.items() if n > 1]
    missing = sorted((logged - applied).elements())
    print(f"[crash] exported log: {sum(applied.values())} events, {len(twice)} applied more than once, "
          f"{len(missing)} of the log's {sum(logged.values())} missing {missing[:10]}")
    assert not twice, twice[:20]
    assert not missing, missing[:20]


def test_a_worker_killed_with_sigkill_at_random_points_ends_equal_to_replay(cluster):
    rng = seeded()
    started = time.monotonic()
    log = cluster.workdir / "crash.jsonl"
    events = write_workload(log, EVENTS, addresses=20_000, contacts=2_000, seed=rng.randrange(2**32))
    print(f"[crash] log of {events} events over 20000 addresses: {log}")
    worker = cluster.worker("w1")
    cluster.wait_ready()
    cluster.cli("publish", str(log))
    for number, share in enumerate(sorted(rng.uniform(0.02, 0.97) for _ in range(KILLS)), 1):
        done = wait_for_progress(cluster, share)
        pause = rng.uniform(0, 1.5)
        time.sleep(pause)
        worker.stop(signal.SIGKILL)
        print(f"[crash] kill -9 {number}/{KILLS}: {done:.1%} committed, {pause:.2f} s later")
        worker.start()
        cluster.wait_ready()
    assert_equal_to_replay(cluster, log, started)
    assert_every_event_applied_once(cluster, log)


def test_the_broker_restarted_mid_run_the_worker_reconnects_and_ends_equal_to_replay(cluster, broker):
    rng = seeded()
    started = time.monotonic()
    log = cluster.workdir / "restart.jsonl"
    write_workload(log, 30_000, addresses=5_000, contacts=500, seed=rng.randrange(2**32))
    first, second = cluster.halves(log)
    worker = cluster.worker("w1")
    cluster.wait_ready()
    cluster.cli("publish", str(first))
    done = wait_for_progress(cluster, rng.uniform(0.1, 0.4))
    broker.stop()
    print(f"[crash] broker stopped at {done:.1%} committed")
    time.sleep(rng.uniform(1, 5))
    broker.start()
    print("[crash] broker started again")
    cluster.cli("publish", str(second))
    assert worker.running, worker.log_tail()
    assert_equal_to_replay(cluster, log, started)
    assert worker.running, "the worker is still the one started before the broker restart"
    assert_every_event_applied_once(cluster, log)


@pytest.mark.parametrize("standby_replicas", [0, 1])
def test_two_workers_one_killed_the_survivor_takes_over_and_ends_equal_to_replay(cluster, standby_replicas):
    """Without standby replicas (the default) the survivor restores the victim's partitions
    from their changelogs; with one, it holds them warm already."""
    rng = seeded()
    started = time.monotonic()
    log = cluster.workdir / "two.jsonl"
    write_workload(log, 40_000, addresses=5_000, contacts=500, seed=rng.randrange(2**32))
    env = {"BOUNCEBACK_STANDBY_REPLICAS": str(standby_replicas)}
    survivor, victim = cluster.worker("w1", env), cluster.worker("w2", env)
    cluster.wait_ready()
    cluster.wait_idle(quiet=2)
    assert survivor.assigned() and victim.assigned(), "each worker holds some partitions"
    standby = survivor.standby()
    print(f"[crash] w1 stands by for {standby}")
    if standby_replicas:
        assert standby, "the survivor keeps the victim's table partitions warm"
    else:
        assert standby == [], "no standby replicas unless asked for"
    cluster.cli("publish", str(log))
    done = wait_for_progress(cluster, rng.uniform(0.2, 0.6))
    victim.stop(signal.SIGKILL)
    print(f"[crash] kill -9 of w2 at {done:.1%} committed; w1 carries on alone")
    cluster.wait_ready()
    assert_equal_to_replay(cluster, log, started)
    assert_every_event_applied_once(cluster, log)
    # the survivor took the partitions over by itself, without crashing and starting again
    # (it used to, on faust's ConsistencyError "persisted offset N > highwater -1")
    crashes = survivor.log_path.read_text(errors="replace").count("the worker crashed")
    print(f"[crash] the survivor crashed {crashes} times")
    assert not crashes, survivor.log_tail()
