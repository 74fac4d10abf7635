"""A real broker on loopback for the integration tests, started by the tests.

BOUNCEBACK_TEST_BROKER=tansu (the default) runs the embedded Tansu broker;
BOUNCEBACK_TEST_BROKER=kafka runs Apache Kafka (KRaft, single node, streams/kafka_local.py).
Each test gets its own topic prefix and consumer group on it, and its own workers."""

from __future__ import annotations

import itertools
import os

import pytest

from streams.kafka_local import LocalKafka
from streams.tansu import EmbeddedBroker
from tests.integration.cluster import Cluster

_names = itertools.count(1)


BROKER = os.environ.get("BOUNCEBACK_TEST_BROKER", "tansu")


@pytest.fixture(scope="session")
def broker(tmp_path_factory):
    if BROKER == "kafka":
        workdir = tmp_path_factory.mktemp("kafka")
        broker = LocalKafka(workdir).start()
        print(f"[broker] Apache Kafka on {broker.bootstrap}, logs in {workdir}")
    elif BROKER == "tansu":
        log = tmp_path_factory.mktemp("broker") / "tansu.log"
        broker = EmbeddedBroker(log_path=str(log)).start()
        print(f"[broker] tansu on {broker.bootstrap}, log {log}")
    else:
        raise pytest.UsageError(f"BOUNCEBACK_TEST_BROKER must be tansu or kafka, not {BROKER!r}")
    yield broker
    broker.stop()


@pytest.fixture
def cluster(broker, tmp_path, request):
    name = f"t{next(_names)}-{request.node.name[:30].replace('[', '-').replace(']', '')}"
    cluster = Cluster(broker.bootstrap, tmp_path, prefix=f"bb-{name}", embedded=BROKER == "tansu")
    yield cluster
    cluster.stop()
