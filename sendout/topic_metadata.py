"""A topic's id and partitions, from a Metadata request of version 10 to 12.

Kafka gives every topic a UUID when it is created (KIP-516); a topic deleted and created
again under the same name gets another one, and so does every topic of a broker that
keeps its topics in memory (the embedded Tansu broker) after a restart. The id is only in
Metadata responses from version 10 on, which aiokafka (it stops at version 5) does not
speak, so the request and response are declared here with aiokafka's own protocol types.
"""

from __future__ import annotations

import uuid
from io import BytesIO
from typing import NamedTuple

from aiokafka.errors import for_code
from aiokafka.protocol.abstract import AbstractType
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.types import Boolean, CompactArray, CompactString, Int16, Int32, Schema, TaggedFields

# UNKNOWN_TOPIC_OR_PARTITION, LEADER_NOT_AVAILABLE (a topic being created): not there yet
_NOT_THERE = (3, 5)
_NO_ID = bytes(16)


class _Uuid(AbstractType[bytes]):
    @classmethod
    def encode(cls, value: bytes) -> bytes:
        return value

    @classmethod
    def decode(cls, data: BytesIO) -> bytes:
        return data.read(16)


_BROKERS = CompactArray(("node_id", Int32), ("host", CompactString("utf-8")), ("port", Int32),
                        ("rack", CompactString("utf-8")), ("tags", TaggedFields))
_PARTITIONS = CompactArray(("error_code", Int16), ("partition_index", Int32), ("leader_id", Int32),
                           ("leader_epoch", Int32), ("replica_nodes", CompactArray(Int32)),
                           ("isr_nodes", CompactArray(Int32)), ("offline_replicas", CompactArray(Int32)),
                           ("tags", TaggedFields))
_TOPICS = CompactArray(("error_code", Int16), ("name", CompactString("utf-8")), ("topic_id", _Uuid),
                       ("is_internal", Boolean), ("partitions", _PARTITIONS), ("topic_authorized_operations", Int32),
                       ("tags", TaggedFields))
_REQUEST_TOPICS = CompactArray(("topic_id", _Uuid), ("name", CompactString("utf-8")), ("tags", TaggedFields))


class MetadataResponse_v10(Response):
    API_KEY = 3
    API_VERSION = 10
    SCHEMA = Schema(("throttle_time_ms", Int32), ("brokers", _BROKERS), ("cluster_id", CompactString("utf-8")),
                    ("controller_id", Int32), ("topics", _TOPICS), ("cluster_authorized_operations", Int32),
                    ("tags", TaggedFields))


class MetadataResponse_v11(Response):
    API_KEY = 3
    API_VERSION = 11
    SCHEMA = Schema(("throttle_time_ms", Int32), ("brokers", _BROKERS), ("cluster_id", CompactString("utf-8")),
                    ("controller_id", Int32), ("topics", _TOPICS), ("tags", TaggedFields))


class MetadataResponse_v12(MetadataResponse_v11):  # the same fields; a topic's name may be null
    API_VERSION = 12


class MetadataRequest_v10(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 3
    API_VERSION = 10
    RESPONSE_TYPE = MetadataResponse_v10
    SCHEMA = Schema(("topics", _REQUEST_TOPICS), ("allow_auto_topic_creation", Boolean),
                    ("include_cluster_authorized_operations", Boolean),
                    ("include_topic_authorized_operations", Boolean), ("tags", TaggedFields))


class MetadataRequest_v11(RequestStruct):
    FLEXIBLE_VERSION = True
    API_KEY = 3
    API_VERSION = 11
    RESPONSE_TYPE = MetadataResponse_v11
    SCHEMA = Schema(("topics", _REQUEST_TOPICS), ("allow_auto_topic_creation", Boolean),
                    ("include_topic_authorized_operations", Boolean), ("tags", TaggedFields))


class MetadataRequest_v12(MetadataRequest_v11):  # the same fields
    API_VERSION = 12
    RESPONSE_TYPE = MetadataResponse_v12


class _TopicMetadataRequest(Request[MetadataRequest_v10 | MetadataRequest_v11 | MetadataRequest_v12]):
    API_KEY = 3

    def __init__(self, topic: str) -> None:
        self.topic = topic

    def build(self, request_struct_class):
        topics = [(_NO_ID, self.topic, {})]
        if request_struct_class.API_VERSION == 10:
            return request_struct_class(topics, False, False, False, {})
        return request_struct_class(topics, False, False, {})


class TopicMetadata(NamedTuple):
    id: uuid.UUID | None  # None: the broker gives no topic ids
    partitions: list[int]


class TopicIdsUnsupported(Exception):
    """The broker speaks no Metadata version with topic ids (before Kafka 2.8)."""


async def topic_metadata(client, topic: str) -> TopicMetadata | None:
    """The topic's id and partitions, asked of any broker through an aiokafka client; None
    when the topic does not exist (or is still being created). Raises aiokafka's errors when no broker answers, and
    TopicIdsUnsupported for a broker without topic ids."""
    node = client.get_random_node()
    if node is None:
        await client.force_metadata_update()
        node = client.get_random_node()
    try:
        response = await client.send(node, _TopicMetadataRequest(topic))
    except NotImplementedError as exc:  # no version 10 to 12 in the broker's range
        raise TopicIdsUnsupported(str(exc)) from None
    for error_code, name, topic_id, _, partitions, *_ in response.topics:
        if name != topic:
            continue
        if error_code in _NOT_THERE:
            return None
        if error_code:
            raise for_code(error_code)(f"metadata of {topic}")
        return TopicMetadata(None if topic_id == _NO_ID else uuid.UUID(bytes=topic_id),
                             sorted(p[1] for p in partitions))
    return None
