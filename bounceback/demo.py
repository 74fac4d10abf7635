"""`bounceback demo`: the whole pipeline on the embedded broker, fed the sample log, with
suppressions and contact cards printed as they appear, then checked against replay."""

from __future__ import annotations

import asyncio
import tempfile
import threading
import time
from pathlib import Path

import msgspec
from aiokafka import AIOKafkaConsumer
from rich.console import Console

from bounceback.kafka_io import publish_lines
from bounceback.local import LocalWorker, wait_idle, wait_ready
from replay.runner import file_lines, fold
from streams.admin import ensure_topics
from streams.settings import Settings, Topics
from streams.tansu import EmbeddedBroker

console = Console(stderr=True, highlight=False)
_STYLE = {"blocked": "bold red strike", "unsubscribed": "yellow", "active": "green"}


class _Tail(threading.Thread):
    """Prints suppression and contact records as the pipeline publishes them."""

    def __init__(self, bootstrap: str, topics: Topics) -> None:
        super().__init__(daemon=True)
        self.bootstrap, self.topics = bootstrap, topics
        self.suppressions: dict[bytes, bytes] = {}
        self.cards: dict[bytes, bytes] = {}
        self.stopping = threading.Event()

    def run(self) -> None:
        asyncio.run(self._run())

    async def _run(self) -> None:
        consumer = AIOKafkaConsumer(self.topics.suppressions, self.topics.contact_status, bootstrap_servers=self.bootstrap,
                                    auto_offset_reset="earliest", enable_auto_commit=False)
        await consumer.start()
        try:
            while not self.stopping.is_set():
                batch = await consumer.getmany(timeout_ms=300)
                for tp, messages in batch.items():
                    for m in messages:
                        self._show(tp.topic, m.key, m.value)
        finally:
            await consumer.stop()

    def _show(self, topic: str, key: bytes, value: bytes) -> None:
        record = msgspec.json.decode(value)
        if topic == self.topics.suppressions:
            self.suppressions[key] = value
            state = record["state"]
            reasons = ", ".join(record["reasons"]) or "suppression lifted"
            console.print(f"  suppression  [{_STYLE[state]}]{key.decode()}[/] {state} ({reasons})")
        else:
            self.cards[key] = value
            blocked = sum(a["state"] == "blocked" for a in record["addresses"])
            console.print(f"  contact card [cyan]{key.decode()}[/]: {len(record['addresses'])} addresses "
                          f"({blocked} blocked), {len(record['messages'])} messages")


def run_demo(log: Path, partitions: int = 4, keep_running: bool = False) -> bool:
    workdir = Path(tempfile.mkdtemp(prefix="bounceback-demo-"))
    console.rule("bounceback demo")
    broker = EmbeddedBroker(log_path=str(workdir / "broker.log")).start()
    console.print(f"embedded broker (Tansu, in memory) on {broker.bootstrap}; work files in {workdir}")
    settings = Settings(broker=broker.bootstrap, partitions=partitions, tansu=True)
    worker = LocalWorker(broker.bootstrap, settings.topics.prefix, partitions, workdir / "state",
                         workdir / "worker.log", embedded=True)
    tail = _Tail(broker.bootstrap, settings.topics)
    try:
        asyncio.run(ensure_topics(settings))
        worker.start()
        console.print(f"worker starting (log {worker.log_path}) ...")
        wait_ready([worker], settings.topics.inbound, partitions)
        console.print(f"worker ready: [link]{worker.url}[/link]")
        tail.start()
        with open(log, "rb") as lines:
            published, rejected = asyncio.run(publish_lines(lines, broker.bootstrap, settings.topics.inbound, partitions))
        console.print(f"published {published} events from {log} ({len(rejected)} invalid lines skipped)")
        wait_idle([worker], lambda: (len(tail.suppressions), len(tail.cards)))
        time.sleep(1)

        replayed = fold(file_lines(log), partitions=partitions)
        expected_suppressions = {key.encode(): msgspec.json.encode(r)
                                 for key, r in replayed.address_records() if r.reasons}
        live_suppressions = {k: v for k, v in tail.suppressions.items() if msgspec.json.decode(v)["reasons"]}
        expected_cards = {cid.encode(): msgspec.json.encode(c) for cid, c in replayed.contact_records()}
        same = live_suppressions == expected_suppressions and tail.cards == expected_cards
        console.rule("result")
        console.print(f"{len(live_suppressions)} addresses suppressed, {len(tail.cards)} contact cards")
        console.print("live state equals `bounceback replay` of the same log: "
                      + ("[bold green]yes[/]" if same else "[bold red]NO[/]"))
        console.print(f"try: curl {worker.url}/addresses/email/mats.lindqvist@example.net")
        console.print(f"     curl {worker.url}/contacts/c-1020      curl {worker.url}/metrics")
        if keep_running:
            console.print("running until Ctrl-C")
            try:
                while worker.running:
                    time.sleep(1)
            except KeyboardInterrupt:
                pass
        return same
    finally:
        tail.stopping.set()
        worker.stop()
        broker.stop()
