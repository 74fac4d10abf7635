"""Replay in several processes: the same files, byte for byte, as in one, whatever the number
of processes and partitions; each process holds only its own partitions' state."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from partitions.routing import partition_for
from replay.runner import OUTPUTS, fold, replay_file
from replay.share import Share
from projections.policy import Policy
from tests.helpers import at, contact, delivery, lines, tick
from tests.test_properties import mixed_logs

SAMPLE = Path(__file__).resolve().parent.parent / "examples" / "sample.jsonl"


def _files(log: Path, out: Path, **kwargs) -> dict[str, bytes]:
    summary = replay_file(log, out, **kwargs)
    files = {name: (out / f"{name}.jsonl").read_bytes() for name in OUTPUTS}
    assert {name: data.count(b"\n") for name, data in files.items()} == summary.counts
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{name}.jsonl" for name in OUTPUTS)  # no scratch left
    return files


@pytest.mark.parametrize("jobs,partitions", [(2, 4), (3, 4), (4, 4), (3, 7)])
def test_the_sample_replays_to_the_same_bytes_in_any_number_of_processes(tmp_path, jobs, partitions):
    one = _files(SAMPLE, tmp_path / "one", jobs=1)
    assert _files(SAMPLE, tmp_path / "many", jobs=jobs, partitions=partitions) == one


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mixed_logs(), st.integers(1, 6))
def test_any_log_replays_to_the_same_bytes_with_jobs_1_and_3(tmp_path_factory, events, partitions):
    tmp = tmp_path_factory.mktemp("jobs")
    log = tmp / "log.jsonl"
    # a bad line among them: rejected once, by its line number, whatever the processes
    log.write_bytes(b"".join(line + b"\n" for line in lines(events)) + b'{"type": "nope"}\n')
    one = _files(log, tmp / "one", jobs=1, partitions=partitions)
    assert _files(log, tmp / "three", jobs=3, partitions=partitions) == one


def test_a_share_holds_only_the_state_of_its_own_partitions():
    log = lines([contact("c-1", at(0), emails=["anna@example.com", "bo@example.org"]),
                 delivery("anna@example.com", "m-1", "hard_bounce", at(1), contact_id="c-2"),
                 delivery("bo@example.org", "m-2", "delivered", at(1), contact_id="c-1"),
                 tick(at(2))])
    everything = fold(log, partitions=8)
    mine = {partition_for("c-1", 8), partition_for("email:anna@example.com", 8)}
    assert len(mine) == 2
    sent = []
    share = Share(Policy(), 8, mine, mine, send_link=lambda p, link: sent.append(p))
    share.fold_log(log)
    share.finish()
    assert sent and not mine & set(sent)  # bo's link went to the share holding bo
    assert set(share.addresses) == {k for k in everything.addresses if partition_for(k, 8) in mine} == {
        "email:anna@example.com"}
    assert set(share.contacts) == {c for c in everything.contacts if partition_for(c, 8) in mine} == {"c-1"}
    assert share.addresses["email:anna@example.com"].record() == everything.addresses["email:anna@example.com"].record()


def test_a_failing_process_fails_the_replay_and_leaves_no_scratch(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(Share, "apply_contact_commands", fail)
    with pytest.raises(RuntimeError, match="replay process replay-. failed"):
        replay_file(SAMPLE, tmp_path, jobs=2)
    assert not list(tmp_path.glob("bounceback-replay-*"))
