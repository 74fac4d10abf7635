"""A single-node Apache Kafka (KRaft) on 127.0.0.1, for the Kafka test lane and local use.

The broker's jars come from Maven Central (kafka/pom.xml, `mvn dependency:copy-dependencies`)
into a cache directory kept between runs; its data lives in a directory of the caller's.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import uuid
from pathlib import Path

from streams.processes import free_port, start_listening, stop

KAFKA_DIR = Path(__file__).resolve().parent.parent / "kafka"
CACHE = Path(os.environ.get("BOUNCEBACK_KAFKA_CACHE", Path.home() / ".cache" / "bounceback" / "kafka"))


def kafka_jars() -> Path:
    """The directory of the broker's jars, fetched from Maven Central on first use."""
    pom = (KAFKA_DIR / "pom.xml").read_bytes()
    lib = CACHE / f"lib-{uuid.uuid5(uuid.NAMESPACE_URL, pom.decode()).hex[:12]}"
    if not (lib / ".complete").exists():
        shutil.rmtree(lib, ignore_errors=True)
        subprocess.run(["mvn", "-q", "-B", "-f", str(KAFKA_DIR / "pom.xml"), "dependency:copy-dependencies",
                        "-DincludeScope=runtime", f"-DoutputDirectory={lib}"], check=True)
        (lib / ".complete").touch()
    return lib


class LocalKafka:
    def __init__(self, workdir: Path, heap: str = "512m") -> None:
        self.workdir = Path(workdir)
        self.heap = heap
        self.port = free_port()
        self.controller_port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _java(self, main: str, *args: str) -> list[str]:
        return ["java", f"-Xmx{self.heap}", f"-Xms{self.heap}", "-XX:+UseG1GC",
                f"-Dlog4j2.configurationFile={KAFKA_DIR / 'log4j2.properties'}",
                f"-Dkafka.logs.dir={self.workdir}", "-cp", f"{kafka_jars()}/*", main, *args]

    def start(self, timeout: float = 120) -> LocalKafka:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "server.properties"
        config.write_text("\n".join([
            "process.roles=broker,controller",
            "node.id=1",
            f"listeners=PLAINTEXT://127.0.0.1:{self.port},CONTROLLER://127.0.0.1:{self.controller_port}",
            f"advertised.listeners=PLAINTEXT://127.0.0.1:{self.port}",
            "controller.listener.names=CONTROLLER",
            "listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
            f"controller.quorum.voters=1@127.0.0.1:{self.controller_port}",
            f"log.dirs={self.workdir / 'data'}",
            "offsets.topic.replication.factor=1",
            "offsets.topic.num.partitions=4",
            "transaction.state.log.replication.factor=1",
            "transaction.state.log.min.isr=1",
            "transaction.state.log.num.partitions=4",
            "group.initial.rebalance.delay.ms=0",
            "group.min.session.timeout.ms=1000",
            "num.partitions=4",
            "log.cleaner.backoff.ms=1000",
            "",
        ]))
        if not (self.workdir / "data" / "meta.properties").exists():
            cluster_id = "-"
            while cluster_id.startswith("-"):  # StorageTool would read it as an option (Kafka's own ids avoid it)
                cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
            subprocess.run(self._java("kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(config)),
                           check=True, capture_output=True)
        self.process = start_listening(self._java("kafka.Kafka", str(config)), self.port, timeout,
                                       f"kafka (logs in {self.workdir})", open(self.workdir / "stdout.log", "ab"))
        return self

    def stop(self) -> None:
        process, self.process = self.process, None
        stop(process, grace=60)
