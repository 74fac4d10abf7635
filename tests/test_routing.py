"""The partitioner agrees with Kafka's (aiokafka's murmur2, a port of the Java client's)."""

from __future__ import annotations

from aiokafka.partitioner import murmur2 as kafka_murmur2
from hypothesis import given, settings
from hypothesis import strategies as st

from partitions.routing import Partitioner, murmur2, partition_for


@settings(max_examples=2000)
@given(st.binary(max_size=80))
def test_murmur2_is_kafkas(data):
    assert murmur2(data) == kafka_murmur2(data)


@given(st.text(max_size=60), st.integers(1, 64))
def test_the_memo_gives_what_the_partitioner_gives(key, partitions):
    partition = Partitioner(partitions)
    assert partition(key) == partition(key) == partition_for(key, partitions) < partitions


def test_the_java_clients_own_test_vectors():
    # org.apache.kafka.common.utils.UtilsTest#testMurmur2 (signed 32-bit values)
    cases = {b"21": -973932308, b"foobar": -790332482, b"a-little-bit-long-string": -985981536,
             b"a-little-bit-longer-string": -1486304829,
             b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971, b"abc": 479470107}
    for data, expected in cases.items():
        assert murmur2(data) == expected & 0xFFFFFFFF
