"""The README's main command works: `bounceback demo` on the embedded broker, read as a new
user reads it (output not a terminal, so nothing may depend on a terminal's width)."""

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter

import pytest

from tests.helpers import at, contact, delivery, lines
from tests.integration.cluster import ROOT

pytestmark = pytest.mark.integration

SAMPLE = ROOT / "examples" / "sample.jsonl"


def _environment(tmp_path):
    temp = tmp_path / "tmp"
    temp.mkdir()
    env = dict(os.environ, TMPDIR=str(temp))
    env.pop("COLUMNS", None)  # rich's default width for a pipe, 80 columns, applies
    return env, temp


def _leftovers(temp):
    return sorted(p.name for p in temp.iterdir() if p.name.startswith("bounceback-demo-"))


def test_bounceback_demo_runs_the_pipeline_and_finds_it_equal_to_replay(tmp_path):
    env, temp = _environment(tmp_path)
    result = subprocess.run([sys.executable, "-m", "bounceback.cli", "demo"], cwd=ROOT, capture_output=True,
                            timeout=300, env=env)
    output = result.stderr.decode()
    assert result.returncode == 0, output
    assert "suppression  email:mats.lindqvist@example.net blocked (soft_bounce_limit)" in output
    assert "live state equals `bounceback replay` of the same log: yes" in output
    # every card once, as it settled; the count of addresses and messages in agreement
    printed = Counter(re.findall(r"^  contact card (c-\d+): ", output, re.MULTILINE))
    assert len(printed) == 32 and set(printed.values()) == {1}, printed
    assert "  contact card c-1007: 1 address (1 blocked), 10 messages\n" in output
    assert "  contact card c-1031: 2 addresses (1 blocked), 1 message\n" in output
    assert not re.search(r"\b1 (addresses|messages|events)\b", output)
    # paths on one line, at any width
    assert f"published 482 events from {SAMPLE} (0 invalid lines skipped)\n" in output
    assert re.search(r"work files in \S+/bounceback-demo-\w+ \(removed at the end\)\n", output), output
    # no hint pointing at the worker the demo has just stopped
    assert "curl" not in output and "http://127.0.0.1" not in output.split("── result")[-1]
    assert "bounceback demo --keep-running" in output
    assert _leftovers(temp) == []


def _read_lines(stream, into: queue.Queue) -> None:
    for line in iter(stream.readline, b""):
        into.put(line.decode())
    into.put(None)


def test_demo_keeps_running_until_ctrl_c_with_hints_taken_from_the_log_it_was_given(tmp_path):
    env, temp = _environment(tmp_path)
    log = tmp_path / "other.jsonl"
    log.write_bytes(b"\n".join(lines([
        contact("c-77", at(0), emails=["zoe@example.org"]),
        contact("c-78", at(0), emails=["yan@example.org"]),
        delivery("zoe@example.org", "m-1", "sent", at(1)),
        delivery("zoe@example.org", "m-1", "hard_bounce", at(2), bounce_code="5.1.1"),
        delivery("yan@example.org", "m-2", "delivered", at(2)),
    ])) + b"\n")
    demo = subprocess.Popen([sys.executable, "-m", "bounceback.cli", "demo", "--events", str(log), "--keep-running"],
                            cwd=tmp_path, stderr=subprocess.PIPE, env=env, start_new_session=True)
    printed: queue.Queue = queue.Queue()
    threading.Thread(target=_read_lines, args=(demo.stderr, printed), daemon=True).start()
    output = ""
    try:
        deadline = time.monotonic() + 240
        while "/metrics" not in output:
            line = printed.get(timeout=max(0.1, deadline - time.monotonic()))
            assert line is not None, output
            output += line
        assert "keep running until Ctrl-C" in output, output
        card_url = re.search(r"in a browser: (http://127\.0\.0\.1:\d+/contacts/c-77)\n", output).group(1)
        address_url = re.search(r"curl (http://127\.0\.0\.1:\d+/addresses/email/zoe@example\.org)\n", output).group(1)
        assert "mats.lindqvist" not in output and "c-1020" not in output
        page = urllib.request.urlopen(urllib.request.Request(card_url, headers={"Accept": "text/html"}), timeout=10)
        assert page.status == 200 and "zoe@example.org" in page.read().decode()
        address = json.loads(urllib.request.urlopen(address_url, timeout=10).read())
        assert address["record"]["state"] == "blocked", address
        time.sleep(1)
        assert demo.poll() is None, "the demo stopped before Ctrl-C"
    finally:
        os.killpg(demo.pid, signal.SIGINT)  # what Ctrl-C in a terminal sends to the foreground group
        returncode = demo.wait(60)
    while (line := printed.get(timeout=10)) is not None:
        output += line
    assert returncode == 0, output
    assert "stopping" in output and "Traceback" not in output
    assert _leftovers(temp) == []
