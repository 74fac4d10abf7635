"""Real broker and worker processes on loopback, for the integration tests."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import msgspec

from streams.export import read_topic
from streams.local_workers import LocalWorker, wait_idle, wait_ready

ROOT = Path(__file__).resolve().parents[2]


class Worker(LocalWorker):
    def __init__(self, cluster: Cluster, name: str) -> None:
        super().__init__(cluster.bootstrap, cluster.prefix, cluster.partitions, cluster.workdir / f"{name}-state",
                         cluster.workdir / f"{name}.log", cluster.embedded, name)

    def start(self, env: dict[str, str] | None = None) -> Worker:
        super().start(env=env)
        print(f"[cluster] started worker {self.name} pid={self.process.pid} web={self.url} state={self.datadir}")
        return self

    def stop(self, sig=signal.SIGTERM) -> None:
        if self.running:
            print(f"[cluster] stopping worker {self.name} with {signal.Signals(sig).name}")
        super().stop(sig)

    def wipe_state(self) -> None:
        shutil.rmtree(self.datadir, ignore_errors=True)
        print(f"[cluster] deleted state directory of {self.name}")


class Cluster:
    def __init__(self, bootstrap: str, workdir: Path, prefix: str, embedded: bool, partitions: int = 4) -> None:
        self.bootstrap = bootstrap
        self.workdir = workdir
        self.prefix = prefix
        self.embedded = embedded
        self.partitions = partitions
        self.workers: list[Worker] = []

    def worker(self, name: str, env: dict[str, str] | None = None) -> Worker:
        worker = Worker(self, name)
        self.workers.append(worker)
        return worker.start(env=env)

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "bounceback.cli", *args]
        if args[0] in ("publish", "export-log", "import-bounce-list", "ingest-receipts"):
            cmd += ["--broker", self.bootstrap, "--partitions", str(self.partitions), "--topic-prefix", self.prefix]
        result = subprocess.run(cmd, cwd=ROOT, capture_output=True, timeout=300)
        assert result.returncode == 0, result.stderr.decode()
        return result

    @contextmanager
    def gateway(self, config: str) -> Iterator[str]:
        """A `bounceback gateway` with this configuration file text, publishing to this
        cluster; yields its base URL and stops it on leaving."""
        from streams.processes import free_port, start_listening, stop

        path = self.workdir / "gateway.toml"
        path.write_text(config)
        port = free_port()
        with open(self.workdir / "gateway.log", "ab") as log:
            process = start_listening(
                [sys.executable, "-m", "bounceback.cli", "gateway", "--config", str(path), "--port", str(port),
                 "--broker", self.bootstrap, "--partitions", str(self.partitions), "--topic-prefix", self.prefix],
                port, 60, "gateway", log)
            try:
                yield f"http://127.0.0.1:{port}"
            finally:
                stop(process)

    def topic(self, name: str) -> str:
        return f"{self.prefix}.{name}"

    def read(self, name: str) -> dict[int, list]:
        return asyncio.run(read_topic(self.bootstrap, self.topic(name)))

    def wait_ready(self) -> None:
        wait_ready(self.workers, self.topic("events"), self.partitions)

    def wait_idle(self, quiet: float = 3.0, timeout: float = 300) -> None:
        if not self.embedded and os.environ.get("BOUNCEBACK_PROCESSING_GUARANTEE", "auto") != "at_least_once":
            # outputs become visible to the next agent only when faust commits its
            # transaction (every 2.8 s): quiet must outlast a commit or two
            quiet = max(quiet, 7.0)
        wait_idle(self.workers, self._ends, quiet=quiet, timeout=timeout)

    def _ends(self) -> tuple:
        from aiokafka import AIOKafkaConsumer, TopicPartition

        async def ends():
            consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap)
            await consumer.start()
            try:
                tps = [TopicPartition(self.topic(t), p) for t in ("applied", "suppressions", "contact-status")
                       for p in range(self.partitions)]
                offsets = await consumer.end_offsets(tps)
                return tuple(offsets[tp] for tp in tps)
            finally:
                await consumer.stop()

        return asyncio.run(ends())

    def progress(self) -> float:
        """The share of the inbound topic the consumer group has committed."""
        from aiokafka import AIOKafkaConsumer, TopicPartition
        from aiokafka.admin import AIOKafkaAdminClient

        async def committed():
            admin = AIOKafkaAdminClient(bootstrap_servers=self.bootstrap)
            consumer = AIOKafkaConsumer(bootstrap_servers=self.bootstrap)
            await admin.start()
            await consumer.start()
            try:
                tps = [TopicPartition(self.topic("events"), p) for p in range(self.partitions)]
                ends = await consumer.end_offsets(tps)
                offsets = await admin.list_consumer_group_offsets(self.prefix, partitions=tps)
                done = sum(max(0, offsets[tp].offset) for tp in tps if tp in offsets)
                return done / max(1, sum(ends.values()))
            finally:
                await consumer.stop()
                await admin.close()

        return asyncio.run(committed())

    def live_outputs(self) -> tuple[list[bytes], dict[str, dict]]:
        """The suppression topic's current records with reasons, and the latest card per contact."""
        latest: dict[bytes, bytes] = {}
        for records in self.read("suppressions").values():
            for key, value, _ in records:
                latest[key] = value
        suppressions = sorted(v for v in latest.values() if msgspec.json.decode(v)["reasons"])
        cards: dict[str, dict] = {}
        for records in self.read("contact-status").values():
            for key, value, _ in records:
                cards[key.decode()] = msgspec.json.decode(value)
        return suppressions, cards

    def halves(self, log: Path) -> tuple[Path, Path]:
        """The log split in two files at its middle line."""
        lines = log.read_bytes().splitlines(keepends=True)
        first, second = self.workdir / f"{log.stem}-1.jsonl", self.workdir / f"{log.stem}-2.jsonl"
        first.write_bytes(b"".join(lines[: len(lines) // 2]))
        second.write_bytes(b"".join(lines[len(lines) // 2:]))
        return first, second

    def replay(self, log: Path, name: str) -> tuple[list[bytes], dict[str, dict]]:
        """`bounceback replay` of a log: the suppressions with reasons, and the cards."""
        out = self.workdir / name
        self.cli("replay", str(log), "--out", str(out))
        suppressions = sorted((out / "suppressions.jsonl").read_bytes().splitlines())
        cards = {}
        for line in (out / "contacts.jsonl").read_bytes().splitlines():
            card = msgspec.json.decode(line)
            cards[card["contact_id"]] = card
        return suppressions, cards

    def mismatches(self, expected: tuple[list[bytes], dict[str, dict]]) -> list[str]:
        """Where the live outputs differ from `expected` (a replay): one line per difference."""
        suppressions, cards = self.live_outputs()
        live, wanted = set(suppressions), set(expected[0])
        differences = [f"suppression only live: {r.decode()}" for r in sorted(live - wanted)]
        differences += [f"suppression only in replay: {r.decode()}" for r in sorted(wanted - live)]
        differences += [f"contact {c}: {_card_difference(cards.get(c), card)}"
                        for c, card in expected[1].items() if cards.get(c) != card]
        differences += [f"contact {c} only live" for c in cards.keys() - expected[1].keys()]
        return differences

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()


def post(url: str, body: bytes, headers: dict) -> tuple[int, dict]:
    """POST and the JSON answer, whatever the status."""
    req = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status, msgspec.json.decode(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, msgspec.json.decode(exc.read())


def _card_difference(live: dict | None, replayed: dict) -> str:
    if live is None:
        return "no live card"
    parts = []
    for field, key in (("addresses", "address"), ("messages", "message_id")):
        mine = {item[key]: item for item in live[field]}
        theirs = {item[key]: item for item in replayed[field]}
        for k in sorted(mine.keys() | theirs.keys()):
            if mine.get(k) != theirs.get(k):
                parts.append(f"{field} {k}: live {mine.get(k)} replay {theirs.get(k)}")
    parts += [f"{field}: live {live.get(field)!r} replay {replayed.get(field)!r}"
              for field in sorted((live.keys() | replayed.keys()) - {"addresses", "messages"})
              if live.get(field) != replayed.get(field)]
    return "; ".join(parts) or "the same addresses and messages in another order"
