"""`bounceback run` on the embedded broker keeps its state only as long as it runs: in a
temporary directory, removed when it stops, unless --datadir names one."""

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request

import pytest

from streams.processes import free_port
from tests.integration.cluster import ROOT

pytestmark = pytest.mark.integration


def _ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as response:
            return bool(json.loads(response.read()).get("assigned"))
    except OSError:
        return False


def test_run_keeps_its_state_in_a_temporary_directory_and_removes_it_on_exit(tmp_path):
    temp, cwd = tmp_path / "tmp", tmp_path / "cwd"
    temp.mkdir()
    cwd.mkdir()
    port = free_port()
    run = subprocess.Popen([sys.executable, "-m", "bounceback.cli", "run", "--web-port", str(port), "--clock-interval", "0"],
                           cwd=cwd, env=dict(os.environ, TMPDIR=str(temp), PYTHONPATH=str(ROOT)),
                           stdout=subprocess.DEVNULL, stderr=open(tmp_path / "run.log", "wb"), start_new_session=True)
    try:
        deadline = time.monotonic() + 120
        while not _ready(port):
            assert run.poll() is None and time.monotonic() < deadline, (tmp_path / "run.log").read_text()
            time.sleep(0.5)
        [state] = [p for p in temp.iterdir() if p.name.startswith("bounceback-run-")]
        assert any(state.rglob("*.db")), "the worker's tables are in the temporary directory"
    finally:
        os.killpg(run.pid, signal.SIGINT)
        returncode = run.wait(60)
    assert returncode == 0, (tmp_path / "run.log").read_text()[-3000:]
    assert list(temp.iterdir()) == [] and list(cwd.iterdir()) == []


def test_run_refuses_a_datadir_holding_other_files_than_a_workers_state(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    run = subprocess.run([sys.executable, "-m", "bounceback.cli", "run", "--datadir", str(tmp_path)], cwd=ROOT,
                         capture_output=True, timeout=60)
    assert run.returncode == 2 and b"holds files that are not a worker's state (notes.txt)" in run.stderr
    assert (tmp_path / "notes.txt").read_text() == "mine"
