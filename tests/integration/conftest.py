"""A real broker on loopback for the integration tests, started by the tests.

BOUNCEBACK_TEST_BROKER=tansu (the default) runs the embedded Tansu broker; each test gets
its own topic prefix and consumer group on it, and its own workers."""

from __future__ import annotations

import itertools
import os

import pytest

from streams.tansu import EmbeddedBroker
from tests.integration.cluster import Cluster

_names = itertools.count(1)


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    kind = os.environ.get("BOUNCEBACK_TEST_BROKER", "tansu")
    if kind != "tansu":
        pytest.skip(f"BOUNCEBACK_TEST_BROKER={kind}: only the embedded broker (tansu) is wired up so far")
    log = tmp_path_factory.mktemp("broker") / "tansu.log"
    broker = EmbeddedBroker(log_path=str(log)).start()
    print(f"[broker] tansu on {broker.bootstrap}, log {log}")
    yield broker
    broker.stop()


@pytest.fixture
def cluster(broker, tmp_path, request):
    name = f"t{next(_names)}-{request.node.name[:30].replace('[', '-').replace(']', '')}"
    cluster = Cluster(broker.bootstrap, tmp_path, prefix=f"bb-{name}", embedded=True)
    yield cluster
    cluster.stop()
