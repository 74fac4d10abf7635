"""Real broker and worker processes on loopback, for the integration tests."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import msgspec

from bounceback.kafka_io import read_topic
from streams.tansu import free_port

ROOT = Path(__file__).resolve().parents[2]


class Worker:
    def __init__(self, cluster: Cluster, name: str) -> None:
        self.cluster = cluster
        self.name = name
        self.datadir = cluster.workdir / f"{name}-state"
        self.web_port = free_port()
        self.log_path = cluster.workdir / f"{name}.log"
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    def start(self) -> Worker:
        env = dict(os.environ, BOUNCEBACK_SESSION_TIMEOUT="4")
        cmd = [sys.executable, "-m", "bounceback.cli", "worker", "--broker", self.cluster.bootstrap,
               "--partitions", str(self.cluster.partitions), "--topic-prefix", self.cluster.prefix,
               "--datadir", str(self.datadir), "--web-port", str(self.web_port), "--clock-interval", "0",
               "--loglevel", "info"]
        if self.cluster.embedded:
            cmd.append("--embedded-broker")
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                        start_new_session=True)
        print(f"[cluster] started worker {self.name} pid={self.process.pid} web={self.url} state={self.datadir}")
        return self

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def assigned(self) -> list[str]:
        try:
            status, body = self.get("/health")
        except OSError:
            return []
        return json.loads(body)["assigned"] if status == 200 else []

    def lag(self) -> int | None:
        """Unprocessed records over this worker's partitions; None while it cannot tell."""
        try:
            status, body = self.get("/metrics")
        except OSError:
            return None
        total = 0
        for line in body.decode().splitlines():
            if line.startswith("bounceback_consumer_lag{"):
                total += int(float(line.rsplit(" ", 1)[1]))
        return total

    def stop(self, sig=signal.SIGTERM) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        print(f"[cluster] stopping worker {self.name} with {signal.Signals(sig).name}")
        os.killpg(self.process.pid, sig)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def wipe_state(self) -> None:
        shutil.rmtree(self.datadir, ignore_errors=True)
        print(f"[cluster] deleted state directory of {self.name}")

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


class Cluster:
    def __init__(self, bootstrap: str, workdir: Path, prefix: str, embedded: bool, partitions: int = 4) -> None:
        self.bootstrap = bootstrap
        self.workdir = workdir
        self.prefix = prefix
        self.embedded = embedded
        self.partitions = partitions
        self.workers: list[Worker] = []

    def worker(self, name: str) -> Worker:
        worker = Worker(self, name)
        self.workers.append(worker)
        return worker.start()

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "bounceback.cli", *args]
        if args[0] in ("publish", "export-log"):
            cmd += ["--broker", self.bootstrap, "--partitions", str(self.partitions), "--topic-prefix", self.prefix]
        result = subprocess.run(cmd, cwd=ROOT, capture_output=True, timeout=300)
        assert result.returncode == 0, result.stderr.decode()
        return result

    def topic(self, name: str) -> str:
        return f"{self.prefix}.{name}"

    def read(self, name: str) -> dict[int, list]:
        return asyncio.run(read_topic(self.bootstrap, self.topic(name)))

    def wait_ready(self, workers=None, timeout: float = 90) -> None:
        """Until the running workers between them hold every partition of the inbound topic."""
        workers = workers or [w for w in self.workers if w.process and w.process.poll() is None]
        deadline = time.monotonic() + timeout
        wanted = {f"{self.topic('events')}/{p}" for p in range(self.partitions)}
        while time.monotonic() < deadline:
            held = set()
            for w in workers:
                held.update(w.assigned())
            if wanted <= held:
                return
            time.sleep(0.5)
        raise TimeoutError("workers did not take all partitions:\n" + "\n".join(w.log_tail() for w in workers))

    def wait_idle(self, timeout: float = 180, quiet: float = 3.0) -> None:
        """Until every running worker reports no lag and the outputs stopped growing."""
        deadline = time.monotonic() + timeout
        last, since = None, time.monotonic()
        while time.monotonic() < deadline:
            workers = [w for w in self.workers if w.process and w.process.poll() is None]
            lags = [w.lag() for w in workers]
            state = (tuple(lags), self._ends())
            if state != last:
                last, since = state, time.monotonic()
            elif all(lag == 0 for lag in lags) and time.monotonic() - since >= quiet:
                return
            time.sleep(0.5)
        raise TimeoutError("the pipeline did not become idle:\n" + "\n".join(w.log_tail() for w in self.workers))

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

    def stop(self) -> None:
        for worker in self.workers:
            worker.stop()
