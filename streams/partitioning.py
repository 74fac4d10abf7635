"""Which partition owns a key: Kafka's default partitioner (murmur2 of the key bytes), so a
key sent without an explicit partition, a faust table route and our own sends agree."""

from aiokafka.partitioner import murmur2


def partition_for(key: str, partitions: int) -> int:
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions
