"""Mistakes a user makes, command by command: each is one line naming what is wrong (the file;
the broker's address and how long it was tried), exit status 1, no traceback unless --debug,
and files are checked before any connection."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from bounceback.cli import main
from streams.processes import free_port

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = str(ROOT / "examples" / "sample.jsonl")
BOUNCES = str(ROOT / "tests" / "fixtures" / "bounce_lists" / "plain.csv")
MAIL = str(ROOT / "tests" / "mail" / "postfix-multi.eml")


@pytest.fixture
def closed():
    """The address of a port on this machine nothing listens on."""
    return f"127.0.0.1:{free_port()}"


def _fails_in_one_line(args, *expected: str, env=None) -> str:
    result = CliRunner().invoke(main, args, env={"BOUNCEBACK_CONNECT_TIMEOUT": "0.5", **(env or {})})
    assert result.exit_code == 1, (result.exit_code, result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr
    for text in expected:
        assert text in lines[0], lines[0]
    return lines[0]


def _unreachable(closed: str) -> tuple[str, ...]:
    return f"the broker at {closed} could not be reached within 0.5 seconds", "Connect call failed"


# -- files, checked before the broker is tried (the broker given here is not there) ------------

def test_publish_a_missing_file(closed):
    started = time.monotonic()
    _fails_in_one_line(["publish", "missing.jsonl", "--broker", closed], "'missing.jsonl' does not exist")
    assert time.monotonic() - started < 1, "the file is checked before connecting"


def test_publish_a_directory(closed):
    _fails_in_one_line(["publish", str(ROOT / "examples"), "--broker", closed], "examples' is a directory")


def test_import_bounce_list_a_missing_file(closed):
    _fails_in_one_line(["import-bounce-list", "old.csv", "--list", "bounced", "--broker", closed],
                       "'old.csv' does not exist")


def test_plan_sendout_a_missing_audience(closed):
    _fails_in_one_line(["plan-sendout", "audience.csv", "--sendout-id", "so-1", "--channel", "email",
                        "--broker", closed], "'audience.csv' does not exist")


def test_ingest_receipts_a_missing_file_and_a_directory_before_any_broker(closed):
    _fails_in_one_line(["ingest-receipts", "receipts.txt", "--broker", closed], "'receipts.txt' does not exist")
    _fails_in_one_line(["ingest-receipts", str(ROOT / "tests"), "--broker", closed], "tests' is a directory")


def test_ingest_mail_a_missing_file_and_a_directory(closed):
    _fails_in_one_line(["ingest-mail", "bounce.eml", "--broker", closed], "'bounce.eml' does not exist")
    _fails_in_one_line(["ingest-mail", str(ROOT / "tests" / "mail"), "--broker", closed], "mail' is a directory")


def test_export_log_into_a_missing_directory(closed, tmp_path):
    out = tmp_path / "nowhere" / "log.jsonl"
    _fails_in_one_line(["export-log", "--out", str(out), "--broker", closed], f"cannot write {out}: no directory")


def test_demo_with_a_missing_log():
    _fails_in_one_line(["demo", "--events", "missing.jsonl"], "'missing.jsonl' does not exist")


def test_replay_and_explain_a_missing_log(tmp_path):
    _fails_in_one_line(["replay", "missing.jsonl", "--out", str(tmp_path)], "cannot read missing.jsonl")
    _fails_in_one_line(["explain", "email", "a@example.com", "--events", "missing.jsonl"], "cannot read missing.jsonl")


def test_replay_into_a_file_where_a_directory_is_wanted(tmp_path):
    taken = tmp_path / "taken"
    taken.write_text("")
    _fails_in_one_line(["replay", SAMPLE, "--out", str(taken)], f"Directory '{taken}' is a file")
    # below a file: found only when the directory is made
    _fails_in_one_line(["replay", SAMPLE, "--out", str(taken / "out")], f"{taken / 'out'}: Not a directory")


# -- an unreachable broker ---------------------------------------------------------------------

def test_publish_to_an_unreachable_broker(closed):
    _fails_in_one_line(["publish", SAMPLE, "--broker", closed], *_unreachable(closed))


def test_create_topics_on_an_unreachable_broker(closed):
    _fails_in_one_line(["create-topics", "--broker", closed], *_unreachable(closed))


def test_export_log_from_an_unreachable_broker(closed, tmp_path):
    out = tmp_path / "log.jsonl"
    _fails_in_one_line(["export-log", "--out", str(out), "--broker", closed], *_unreachable(closed))
    assert not out.exists()


def test_import_bounce_list_to_an_unreachable_broker(closed):
    _fails_in_one_line(["import-bounce-list", BOUNCES, "--list", "bounced", "--broker", closed], *_unreachable(closed))


def test_ingest_mail_to_an_unreachable_broker_and_its_dry_run_without_one(closed):
    _fails_in_one_line(["ingest-mail", MAIL, "--broker", closed], *_unreachable(closed))
    dry = CliRunner().invoke(main, ["ingest-mail", MAIL, "--broker", closed, "--dry-run"])
    assert dry.exit_code == 0 and '"type":"delivery"' in dry.stdout, dry.output


def test_plan_sendout_against_an_unreachable_broker(closed, tmp_path):
    audience = tmp_path / "audience.csv"
    audience.write_text("contact_id,address\nc-1,anna@example.com\n")
    _fails_in_one_line(["plan-sendout", str(audience), "--sendout-id", "so-1", "--channel", "email",
                        "--broker", closed, "--out", str(tmp_path / "out")], *_unreachable(closed))


def test_gateway_worker_and_run_on_an_unreachable_broker(closed, tmp_path):
    _fails_in_one_line(["gateway", "--broker", closed, "--port", str(free_port())], *_unreachable(closed))
    _fails_in_one_line(["worker", "--broker", closed, "--datadir", str(tmp_path / "w")], *_unreachable(closed))
    _fails_in_one_line(["run", "--broker", closed, "--datadir", str(tmp_path / "r")], *_unreachable(closed))


def test_the_time_waited_for_the_broker_is_an_option(closed):
    started = time.monotonic()
    result = CliRunner().invoke(main, ["create-topics", "--broker", closed, "--connect-timeout", "1"])
    assert result.exit_code == 1 and "within 1 seconds" in result.stderr
    assert 1 <= time.monotonic() - started < 4


# -- the traceback, on request -----------------------------------------------------------------

def test_debug_lets_an_error_end_in_its_traceback(tmp_path):
    taken = tmp_path / "taken"
    taken.write_text("")
    result = CliRunner().invoke(main, ["replay", SAMPLE, "--out", str(taken / "out"), "--debug"])
    assert result.exit_code == 1 and isinstance(result.exception, OSError)


def test_as_the_installed_command_the_error_is_one_line_on_stderr(closed):
    """A real process: nothing else (aiokafka's log, an unclosed client) reaches the terminal."""
    for args in (["export-log", "--out", "log.jsonl", "--broker", closed], ["publish", "examples", "--broker", closed]):
        run = subprocess.run([sys.executable, "-m", "bounceback.cli", *args, "--connect-timeout", "0.5"], cwd=ROOT,
                             capture_output=True, timeout=60)
        assert run.returncode == 1 and run.stdout == b""
        assert len(run.stderr.decode().strip().splitlines()) == 1, run.stderr.decode()
