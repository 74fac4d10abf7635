"""Workers as local processes (`bounceback worker`, run as an operator would): started,
watched over HTTP, stopped. Used by `bounceback demo`, the integration tests and the
pipeline benchmark."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from streams.processes import free_port, stop


class LocalWorker:
    def __init__(self, bootstrap: str, prefix: str, partitions: int, datadir: Path, log_path: Path,
                 embedded: bool, name: str = "worker") -> None:
        self.bootstrap = bootstrap
        self.prefix = prefix
        self.partitions = partitions
        self.datadir = Path(datadir)
        self.log_path = Path(log_path)
        self.embedded = embedded
        self.name = name
        self.web_port = free_port()
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, session_timeout: float = 4.0, env: dict[str, str] | None = None) -> LocalWorker:
        cmd = [sys.executable, "-m", "bounceback.cli", "worker", "--broker", self.bootstrap,
               "--partitions", str(self.partitions), "--topic-prefix", self.prefix, "--datadir", str(self.datadir),
               "--web-port", str(self.web_port), "--clock-interval", "0"]
        if self.embedded:
            cmd.append("--embedded-broker")
        env = dict(os.environ, **(env or {}), BOUNCEBACK_SESSION_TIMEOUT=str(session_timeout))
        if self.embedded:  # no transactions on the embedded broker
            env["BOUNCEBACK_PROCESSING_GUARANTEE"] = "at_least_once"
        self.process = subprocess.Popen(cmd, env=env, stdout=open(self.log_path, "ab"), stderr=subprocess.STDOUT,
                                        start_new_session=True)
        return self

    def get(self, path: str) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def _health(self) -> dict:
        try:
            status, body = self.get("/health")
        except OSError:
            return {}
        return json.loads(body) if status == 200 else {}

    def assigned(self) -> list[str]:
        return self._health().get("assigned", [])

    def standby(self) -> list[str]:
        """The changelog partitions this worker keeps warm for others."""
        return self._health().get("standby", [])

    def lag(self) -> int | None:
        """Unprocessed records over this worker's source partitions; None while it cannot tell
        (not answering, or rebalancing or restoring its tables, when the lag is not known)."""
        try:
            status, body = self.get("/health")
            if status != 200 or not json.loads(body).get("ready"):
                return None
            status, body = self.get("/metrics")
        except OSError:
            return None
        if status != 200:
            return None
        return sum(int(float(line.rsplit(" ", 1)[1])) for line in body.decode().splitlines()
                   if line.startswith("bounceback_consumer_lag{"))

    def stop(self, sig: int = signal.SIGTERM) -> None:
        stop(self.process, sig)

    def log_tail(self, lines: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


def wait_ready(workers: list[LocalWorker], inbound: str, partitions: int, timeout: float = 90) -> None:
    """Until the running workers between them hold every partition of the inbound topic."""
    wanted = {f"{inbound}/{p}" for p in range(partitions)}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        held = set()
        for worker in workers:
            if worker.running:
                held.update(worker.assigned())
        if wanted <= held:
            return
        time.sleep(0.5)
    raise TimeoutError("the workers did not take all partitions:\n" + "\n".join(w.log_tail() for w in workers))


def wait_idle(workers: list[LocalWorker], progress=lambda: None, timeout: float = 300, quiet: float = 3.0) -> None:
    """Until every running worker reports no lag, and `progress()` (e.g. the end offsets of the
    outputs) and the lags have not changed for `quiet` seconds."""
    deadline = time.monotonic() + timeout
    last, since = None, time.monotonic()
    while time.monotonic() < deadline:
        lags = [w.lag() for w in workers if w.running]
        state = (tuple(lags), progress())
        if state != last:
            last, since = state, time.monotonic()
        elif lags and all(lag == 0 for lag in lags) and time.monotonic() - since >= quiet:
            return
        time.sleep(0.5)
    raise TimeoutError("the pipeline did not become idle:\n" + "\n".join(w.log_tail() for w in workers))
