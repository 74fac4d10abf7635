"""The live pipeline on a real broker gives the state `bounceback replay` gives."""

from __future__ import annotations

import msgspec
import pytest

from tests.integration.cluster import ROOT

pytestmark = pytest.mark.integration
SAMPLE = ROOT / "examples" / "sample.jsonl"


def assert_live_equals(cluster, expected) -> None:
    suppressions, cards = cluster.live_outputs()
    assert suppressions == expected[0]
    assert cards.keys() == expected[1].keys()
    for contact_id, card in expected[1].items():
        assert cards[contact_id] == card, contact_id


def test_the_scenario_log_live_equals_replay_and_so_does_the_exported_log(cluster):
    worker = cluster.worker("w1")
    cluster.wait_ready()
    status, body = worker.get("/health")
    # auto: exactly-once wherever the broker has transactions
    expected_guarantee = "at_least_once" if cluster.embedded else "exactly_once"
    assert msgspec.json.decode(body)["processing_guarantee"] == expected_guarantee
    cluster.cli("publish", str(SAMPLE))
    cluster.wait_idle()
    expected = cluster.replay(SAMPLE, "replay")
    assert expected[0] and expected[1], "the scenario must produce suppressions and cards"
    assert_live_equals(cluster, expected)

    exported = cluster.workdir / "export.jsonl"
    cluster.cli("export-log", "--out", str(exported))
    assert cluster.replay(exported, "replay-export") == expected
    for name in ("addresses.jsonl", "contacts.jsonl"):
        assert (cluster.workdir / "replay" / name).read_bytes() == (cluster.workdir / "replay-export" / name).read_bytes()

    # issue 16: the live audit trail lists what explain of the log lists, in the same order,
    # and so does explain of the exported log (contact events where their time puts them),
    # but for duplicates
    address = "mats.lindqvist@example.net"
    status, body = worker.get(f"/addresses/email/{address}")
    live = msgspec.json.decode(body)["trail"]
    explained = [msgspec.json.decode(line) for line in
                 cluster.cli("explain", "email", address, "--events", str(SAMPLE), "--json").stdout.splitlines()]
    assert any(e["event"].startswith("contact c-1007") for e in live)
    assert live == explained
    from_export = [msgspec.json.decode(line) for line in
                   cluster.cli("explain", "email", address, "--events", str(exported), "--json").stdout.splitlines()]
    # the applied log holds what was applied: a duplicate's "already applied" is not in it
    assert from_export == [e for e in explained if "already applied" not in e["decision"]]
    assert len(from_export) < len(explained)  # the sample has a duplicate for this address


def test_a_worker_restarted_mid_log_with_its_state_directory_deleted_still_equals_replay(cluster):
    first, second = cluster.halves(SAMPLE)
    worker = cluster.worker("w1")
    cluster.wait_ready()
    cluster.cli("publish", str(first))
    cluster.wait_idle()
    worker.stop()
    worker.wipe_state()
    worker.start()
    cluster.wait_ready()
    cluster.cli("publish", str(second))
    cluster.wait_idle()
    assert_live_equals(cluster, cluster.replay(SAMPLE, "replay"))


def test_two_workers_share_the_partitions_and_answer_lookups_for_each_other(cluster):
    one, two = cluster.worker("w1"), cluster.worker("w2")
    cluster.wait_ready()
    cluster.wait_idle(quiet=2)
    assert one.assigned() and two.assigned(), "each worker holds some partitions"
    cluster.cli("publish", str(SAMPLE))
    cluster.wait_idle()
    expected = cluster.replay(SAMPLE, "replay")
    assert_live_equals(cluster, expected)

    records = {msgspec.json.decode(line)["address"]: msgspec.json.decode(line)
               for line in (cluster.workdir / "replay" / "addresses.jsonl").read_bytes().splitlines()}
    for worker in (one, two):
        status, body = worker.get("/addresses/email/%20Mats.Lindqvist@Example.net")
        assert status == 200, body
        answer = msgspec.json.decode(body)
        assert answer["record"] == records["mats.lindqvist@example.net"]
        assert "soft bounce 10 of 10 -> blocked: soft_bounce_limit" in [e["decision"] for e in answer["trail"]][-1] or any(
            "soft bounce 10 of 10 -> blocked: soft_bounce_limit" in e["decision"] for e in answer["trail"])
        for contact_id in ("c-1020", "c-1031", "c-1001"):
            status, body = worker.get(f"/contacts/{contact_id}")
            assert status == 200, body
            assert msgspec.json.decode(body) == expected[1][contact_id]
        assert worker.get("/contacts/nobody")[0] == 404
        assert worker.get("/addresses/sms/12")[0] == 400
