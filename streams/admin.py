"""Topic creation: the pipeline's topics with the configured partition count, the
suppression topic compacted. Faust itself creates only its changelogs."""

from __future__ import annotations

import logging

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
        described = await admin.describe_topics(topics.partitioned())
        for topic in described:
            count = len(topic["partitions"])
            if count != settings.partitions:
                raise SystemExit(
                    f"topic {topic['topic']} has {count} partitions but the pipeline is configured for "
                    f"{settings.partitions}; use --partitions {count} or another --topic-prefix"
                )
    finally:
        await admin.close()
