"""`bounceback demo`: the whole pipeline on the embedded broker, fed the sample log, with
suppressions printed as they appear and the contact cards once the pipeline has settled,
then checked against replay. Its work files are in a temporary directory, removed at the end."""

from __future__ import annotations

import asyncio
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

import click
import msgspec
from aiokafka import AIOKafkaConsumer
from rich.console import Console

from bounceback.wording import plural
from ingress.kafka import publish_lines
from projections.normalise import address_key
from replay.runner import file_lines, fold
from schemas.records import AddressRecord, ContactRecord
from streams.admin import ensure_topics
from streams.local_workers import LocalWorker, wait_idle, wait_ready
from streams.settings import Settings, Topics
from streams.tansu import EmbeddedBroker

SAMPLE = Path("examples") / "sample.jsonl"


def demo_console(file=None) -> Console:
    """The demo's output, on standard error. Lines are never wrapped: rich would otherwise break
    them at 80 columns when the output is not a terminal, splitting URLs and paths."""
    return Console(file=file, stderr=file is None, highlight=False, soft_wrap=True)


console = demo_console()
_STYLE = {"blocked": "bold red strike", "unsubscribed": "yellow", "active": "green"}


def card_line(contact_id: str, record: dict, update: bool = False) -> str:
    blocked = sum(a["state"] == "blocked" for a in record["addresses"])
    return (f"  contact card [cyan]{contact_id}[/]{' updated' if update else ''}: "
            f"{plural(len(record['addresses']), 'address')} ({blocked} blocked), "
            f"{plural(len(record['messages']), 'message')}")


class _Tail(threading.Thread):
    """Prints suppression records as the pipeline publishes them, and the contact cards once the
    pipeline has settled (a card is published again whenever one of its addresses changes, so
    printing each version would show a card first with 0 blocked, then with 1); a card that
    changes after that is printed as an update."""

    def __init__(self, bootstrap: str, topics: Topics) -> None:
        super().__init__(daemon=True)
        self.bootstrap, self.topics = bootstrap, topics
        self.suppressions: dict[bytes, bytes] = {}
        self.cards: dict[bytes, bytes] = {}
        self.stopping = threading.Event()
        self._settled = False
        self._lock = threading.Lock()

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
            return
        with self._lock:
            self.cards[key] = value
            if self._settled:
                console.print(card_line(key.decode(), record, update=True))

    def settle(self) -> None:
        """Print every contact card as it is now; from here on, print each change as an update."""
        with self._lock:
            for key in sorted(self.cards):
                console.print(card_line(key.decode(), msgspec.json.decode(self.cards[key])))
            self._settled = True


def examples(cards: list[ContactRecord]) -> tuple[AddressRecord | None, str | None]:
    """An address and a contact of the log worth opening: a blocked address and the card with
    the most messages that holds one; else a suppressed address and the busiest card."""
    def messages(card: ContactRecord) -> tuple[int, str]:
        return len(card.messages), card.contact_id

    for wanted in (("blocked",), ("blocked", "unsubscribed")):
        holding = [c for c in cards if any(a.state in wanted for a in c.addresses)]
        if holding:
            card = max(holding, key=messages)
            return next(a for a in card.addresses if a.state in wanted), card.contact_id
    card = max(cards, key=messages, default=None)
    if card is None:
        return None, None
    return (card.addresses[0] if card.addresses else None), card.contact_id


def _hints(url: str, cards: list[ContactRecord]) -> None:
    address, contact_id = examples(cards)
    console.print("the worker and the embedded broker keep running until Ctrl-C:")
    if contact_id is not None:
        console.print(f"  the contact card of {contact_id}, to open in a browser: "
                      f"{url}/contacts/{quote(contact_id, safe='')}")
    if address is not None:
        console.print(f"  {address_key(address.channel, address.address)} and its audit trail: "
                      f"curl {url}/addresses/{address.channel}/{quote(address.address, safe='@+')}")
    console.print(f"  the metrics: curl {url}/metrics")


@click.command()
@click.option("--events", default=None, type=click.Path(exists=True, dir_okay=False),
              help="The log to publish [default: examples/sample.jsonl].")
@click.option("--keep-running", is_flag=True,
              help="Keep the worker, the broker and the worker's HTTP pages up until Ctrl-C, "
                   "and print the URLs to open.")
def demo(events, keep_running):
    """Start the embedded broker and a worker, publish the sample log, show suppressions as they
    appear and the contact cards once the pipeline has settled, and check the live state against
    `bounceback replay`. Its work files are removed at the end."""
    if events is None:  # beside the package in a checkout; in the working directory in the image
        checkout = Path(__file__).resolve().parents[2]
        events = next((p for p in (checkout / SAMPLE, SAMPLE) if p.is_file()), None)
        if events is None:
            raise click.ClickException(f"no {SAMPLE} here: pass --events FILE.jsonl")
    if not run_demo(Path(events), keep_running=keep_running):
        raise SystemExit(1)


def run_demo(log: Path, partitions: int = 4, keep_running: bool = False) -> bool:
    with tempfile.TemporaryDirectory(prefix="bounceback-demo-") as workdir:
        return _run(log, Path(workdir), partitions, keep_running)


def _run(log: Path, workdir: Path, partitions: int, keep_running: bool) -> bool:
    console.rule("bounceback demo")
    broker = EmbeddedBroker(log_path=str(workdir / "broker.log")).start()
    console.print(f"embedded broker (Tansu, in memory) on {broker.bootstrap}; work files in {workdir} "
                  "(removed at the end)")
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
        console.print(f"published {plural(published, 'event')} from {log} "
                      f"({plural(len(rejected), 'invalid line')} skipped)")
        wait_idle([worker], lambda: (len(tail.suppressions), len(tail.cards)))
        time.sleep(1)
        console.print("contact cards, now that the pipeline has settled:")
        tail.settle()

        replayed = fold(file_lines(log), partitions=partitions)
        expected_suppressions = {key.encode(): msgspec.json.encode(r)
                                 for key, r in replayed.address_records() if r.reasons}
        live_suppressions = {k: v for k, v in tail.suppressions.items() if msgspec.json.decode(v)["reasons"]}
        cards = [card for _, card in replayed.contact_records()]
        expected_cards = {c.contact_id.encode(): msgspec.json.encode(c) for c in cards}
        same = live_suppressions == expected_suppressions and tail.cards == expected_cards
        console.rule("result")
        console.print(f"{plural(len(live_suppressions), 'address')} suppressed, "
                      f"{plural(len(tail.cards), 'contact card')}")
        console.print("live state equals `bounceback replay` of the same log: "
                      + ("[bold green]yes[/]" if same else "[bold red]NO[/]"))
        if not keep_running:
            console.print("the worker and the broker are stopped now; `bounceback demo --keep-running` keeps "
                          "them running, to open the contact cards in a browser")
            return same
        _hints(worker.url, cards)
        try:
            while worker.running:
                time.sleep(1)
            console.print(f"the worker stopped:\n{worker.log_tail()}")
        except KeyboardInterrupt:
            console.print("stopping")
        return same
    finally:
        tail.stopping.set()
        worker.stop()
        broker.stop()
        if tail.is_alive():
            tail.join(timeout=5)
