"""The README's main command works: `bounceback demo` on the embedded broker."""

import os
import subprocess
import sys

import pytest

from tests.integration.cluster import ROOT

pytestmark = pytest.mark.integration


def test_bounceback_demo_runs_the_pipeline_and_finds_it_equal_to_replay():
    result = subprocess.run([sys.executable, "-m", "bounceback.cli", "demo"], cwd=ROOT, capture_output=True,
                            timeout=300, env=dict(os.environ, COLUMNS="200"))
    output = result.stderr.decode()
    assert result.returncode == 0, output
    assert "suppression  email:mats.lindqvist@example.net blocked (soft_bounce_limit)" in output
    assert "contact card c-1020" in output
    assert "live state equals `bounceback replay` of the same log: yes" in output
