"""Topic creation: the pipeline's topics with the configured partition count; the
suppression and contact-status topics and the tables' changelogs compacted."""

from __future__ import annotations

import asyncio
import logging
import uuid

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from streams.settings import Settings

log = logging.getLogger(__name__)


async def ensure_topics(settings: Settings) -> None:
    topics = settings.topics
    wanted = [NewTopic(name, settings.partitions, 1) for name in topics.partitioned()]
    wanted += [
        NewTopic(topics.suppressions, settings.partitions, 1, topic_configs={"cleanup.policy": "compact"}),
        NewTopic(topics.contact_status, settings.partitions, 1, topic_configs={"cleanup.policy": "compact"}),
        NewTopic(topics.dead_letters, 1, 1),
    ]
    # faust would create the changelogs itself, but a worker's first table write can come
    # before its metadata shows their partitions (a crash on Apache Kafka): made here first
    wanted += [NewTopic(name, settings.partitions, 1, topic_configs={"cleanup.policy": "compact"})
               for name in settings.changelogs()]
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.broker)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [t for t in wanted if t.name not in existing]
        if missing:
            try:
                await admin.create_topics(missing)
            except TopicAlreadyExistsError:
                pass
            log.info("created topics %s", ", ".join(t.name for t in missing))
        for topic in await _described(admin, topics.partitioned() + settings.changelogs()):
            count = len(topic["partitions"])
            if count != settings.partitions:
                raise SystemExit(
                    f"topic {topic['topic']} has {count} partitions but the pipeline is configured for "
                    f"{settings.partitions}; use --partitions {count} or another --topic-prefix"
                )
    finally:
        await admin.close()


async def _described(admin: AIOKafkaAdminClient, names: list[str], timeout: float = 30.0) -> list[dict]:
    """The topics' descriptions once each shows its partitions: a topic just created can be
    described with none for a moment."""
    async with asyncio.timeout(timeout):
        while True:
            described = await admin.describe_topics(names)
            if all(topic["partitions"] for topic in described):
                return described
            await asyncio.sleep(0.2)


async def supports_transactions(bootstrap: str, timeout: float = 15.0) -> bool:
    """Whether the broker runs transactions: one empty transaction with a throwaway id."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, transactional_id=f"bounceback-probe-{uuid.uuid4()}")
    try:
        async with asyncio.timeout(timeout):
            await producer.start()
            await producer.begin_transaction()
            await producer.commit_transaction()
        return True
    except Exception as exc:  # an old or Kafka-compatible broker answers in many ways
        log.info("the broker at %s has no transactions (%s: %s)", bootstrap, type(exc).__name__, exc)
        return False
    finally:
        try:
            async with asyncio.timeout(timeout):
                await producer.stop()
        except Exception:
            pass


async def resolve_processing_guarantee(settings: Settings) -> str:
    """`auto` is exactly_once where the broker has transactions, else at_least_once."""
    wanted = settings.processing_guarantee
    if wanted == "exactly_once" and settings.tansu:
        raise SystemExit("the embedded broker has no transactions: exactly_once needs Apache Kafka")
    if wanted != "auto":
        return wanted
    if not settings.tansu and await supports_transactions(settings.broker):
        return "exactly_once"
    return "at_least_once"
