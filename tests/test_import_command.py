"""`bounceback import-bounce-list` as a command: the report, the summary, the options, and
a 1,000,000-row file read with bounded memory (no timing here: bench/import_bench.py
prints the speed beside its baselines)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from bounceback.cli import main

FIXTURES = Path(__file__).parent / "fixtures" / "bounce_lists"
ROOT = Path(__file__).resolve().parents[1]


def test_dry_run_reports_each_invalid_row_and_prints_the_summary():
    path = str(FIXTURES / "invalid_rows.csv")
    result = CliRunner().invoke(main, ["import-bounce-list", path, "--list", "bounced", "--dry-run"])
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == (
        f"{path}: 11 lines: would import 3 entries (list bounced); 1 duplicates within the file; "
        "6 invalid; 0 blank; header row: yes; separator ','")
    lines = result.stderr.strip().splitlines()
    assert [line.split(":")[1] for line in lines] == ["3", "4", "5", "7", "8", "10"]
    assert lines[0] == f"{path}:3: 'not-an-email' is neither an email address (no @) nor a phone number"


def test_without_a_broker_only_a_dry_run_is_possible(monkeypatch):
    monkeypatch.delenv("KAFKA_BOOTSTRAP", raising=False)
    result = CliRunner().invoke(
        main, ["import-bounce-list", str(FIXTURES / "plain.csv"), "--list", "bounced"])
    assert result.exit_code == 2
    assert "needs --broker" in result.stderr


def test_the_list_is_required_and_checked():
    runner = CliRunner()
    result = runner.invoke(main, ["import-bounce-list", str(FIXTURES / "plain.csv"), "--dry-run"])
    assert result.exit_code == 2 and "--list" in result.stderr
    result = runner.invoke(main, ["import-bounce-list", str(FIXTURES / "plain.csv"), "--list", "spam", "--dry-run"])
    assert result.exit_code == 2 and "'spam' is not one of 'bounced', 'unsubscribed'" in result.stderr


def _generate(path: Path, rows: int) -> None:
    with open(path, "w", newline="") as out:
        out.write("email;name\r\n")
        for i in range(rows):
            out.write(f'user.{i}@example.com;"Name {i}"\r\n' if i % 10 else f"+4670{i:07d};x\r\n")


def _peak_rss_mb(path: Path) -> float:
    cmd = [sys.executable, "-m", "bounceback.cli", "import-bounce-list", str(path), "--list", "bounced", "--dry-run"]
    process = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return usage.ru_maxrss / 1024


def test_a_million_rows_are_read_in_bounded_memory(tmp_path):
    """The file is 35 MB; holding it (even as raw bytes) would add more than that to the
    peak. Streaming adds only the 8-byte-per-address duplicate set (16 MB at a million)."""
    small, large = tmp_path / "small.csv", tmp_path / "large.csv"
    _generate(small, 10)
    _generate(large, 1_000_000)
    size_mb = large.stat().st_size / 2**20
    base, peak = _peak_rss_mb(small), _peak_rss_mb(large)
    print(f"peak RSS: 10 rows {base:.1f} MB, 1,000,000 rows ({size_mb:.0f} MB file) {peak:.1f} MB")
    assert peak - base < 30, (base, peak, size_mb)
    assert size_mb > 30
