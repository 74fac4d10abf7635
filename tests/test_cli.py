"""`bounceback replay` and `bounceback explain` as a user runs them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import msgspec
from click.testing import CliRunner

from bounceback.cli import main
from tests.helpers import at, delivery, lines, tick

ROOT = Path(__file__).resolve().parent.parent


def _write(path: Path, events) -> Path:
    path.write_bytes(b"\n".join(lines(events)) + b"\n")
    return path


def test_replay_writes_the_four_files_sorted_and_reports_rejected_lines(tmp_path):
    log = tmp_path / "log.jsonl"
    good = [delivery("zed@example.com", "m-1", "hard_bounce", at(0)), delivery("+46701234567", "m-2", "hard_bounce", at(0), channel="sms"),
            delivery("amy@example.com", "m-3", "delivered", at(1))]
    log.write_bytes(b"\n".join(lines(good[:1]) + [b"{oops", b""] + lines(good[1:])) + b"\n")
    result = CliRunner().invoke(main, ["replay", str(log), "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    out = tmp_path / "out"
    addresses = [msgspec.json.decode(x) for x in (out / "addresses.jsonl").read_bytes().splitlines()]
    assert [(a["channel"], a["address"]) for a in addresses] == [
        ("email", "amy@example.com"), ("email", "zed@example.com"), ("sms", "+46701234567")]
    suppressed = [msgspec.json.decode(x)["address"] for x in (out / "suppressions.jsonl").read_bytes().splitlines()]
    assert suppressed == ["zed@example.com", "+46701234567"]
    [rejected] = [msgspec.json.decode(x) for x in (out / "rejected.jsonl").read_bytes().splitlines()]
    assert rejected["line"] == 2 and rejected["raw"] == "{oops" and "JSON" in rejected["error"]
    assert (out / "contacts.jsonl").read_bytes() == b""


def test_replay_as_of_applies_a_final_tick(tmp_path):
    log = _write(tmp_path / "log.jsonl", [delivery("amy@example.com", "m-1", "deferred", at(0))])
    CliRunner().invoke(main, ["replay", str(log), "--out", str(tmp_path / "a"), "--as-of", "2026-03-04T10:00:00Z"])
    record = msgspec.json.decode((tmp_path / "a" / "addresses.jsonl").read_bytes())
    assert record["soft_bounces"] == 1 and record["updated_at"] == "2026-03-04T10:00:00Z"
    result = CliRunner().invoke(main, ["replay", str(log), "--out", str(tmp_path / "b"), "--as-of", "tomorrow"])
    assert result.exit_code == 2 and "RFC 3339" in result.output


def test_replay_of_a_missing_file_fails_with_a_clear_message(tmp_path):
    result = CliRunner().invoke(main, ["replay", str(tmp_path / "nope.jsonl"), "--out", str(tmp_path / "out")])
    assert result.exit_code == 1 and "cannot read" in result.output


def test_replay_reads_standard_input_and_runs_as_the_installed_command(tmp_path):
    body = b"\n".join(lines([delivery("amy@example.com", "m-1", "hard_bounce", at(0)), tick(at(1))]))
    run = subprocess.run([sys.executable, "-m", "bounceback.cli", "replay", "-", "--out", str(tmp_path)],
                         input=body, capture_output=True, check=True)
    assert b"replayed 2 events" in run.stderr
    assert b'"hard_bounce"' in (tmp_path / "suppressions.jsonl").read_bytes()


def test_explain_prints_each_event_and_the_decision_it_caused(tmp_path):
    events = [delivery("Amy@Example.com", f"m-{i}", "soft_bounce", at(i)) for i in range(10)]
    log = _write(tmp_path / "log.jsonl", events + [delivery("bo@example.com", "m-x", "delivered", at(3))])
    result = CliRunner().invoke(main, ["explain", "email", " AMY@example.com", "--events", str(log)])
    assert result.exit_code == 0, result.output
    assert result.output.count("delivery m-") == 10 and "m-x" not in result.output
    assert "soft bounce 10 of 10 -> blocked: soft_bounce_limit" in result.output
    assert result.output.rstrip().endswith("now: blocked (reasons: soft_bounce_limit; soft bounces: 10)")


def test_explain_rejects_an_invalid_address(tmp_path):
    log = _write(tmp_path / "log.jsonl", [])
    result = CliRunner().invoke(main, ["explain", "sms", "12", "--events", str(log)])
    assert result.exit_code == 2 and "invalid phone number" in result.output


def test_the_sample_log_replays_without_rejections(tmp_path):
    result = CliRunner().invoke(main, ["replay", str(ROOT / "examples" / "sample.jsonl"), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "rejected.jsonl").read_bytes() == b""
    states = {msgspec.json.decode(x)["state"] for x in (tmp_path / "addresses.jsonl").read_bytes().splitlines()}
    assert states == {"active", "blocked", "unsubscribed"}
