"""Every benchmark loads: a module one moves (as issue 18 moved the local workers) must not
leave a bench that fails only when someone runs it. bench/quix_peer.py needs the optional
`.[bench]` extra (Quix Streams), which the tests never install; bench/naive_agent.py is a
faust app the pipeline bench starts with its settings in the environment."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

BENCHES = sorted(p.stem for p in (Path(__file__).resolve().parent.parent / "bench").glob("*.py")
                 if p.stem not in ("quix_peer", "naive_agent"))


@pytest.mark.parametrize("name", BENCHES)
def test_the_bench_loads(name):
    assert importlib.import_module(f"bench.{name}").__doc__
