"""Local server processes (the brokers, workers): ports, start-until-listening, stop."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_listening(cmd: list[str], port: int, timeout: float, what: str, stdout) -> subprocess.Popen:
    """Start `cmd` in a process group of its own and wait until it accepts connections on
    127.0.0.1:`port`; stops it and raises if it exits first or takes longer than `timeout`."""
    process = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited with status {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return process
        except OSError:
            time.sleep(0.05)
    stop(process)
    raise TimeoutError(f"{what} did not listen on 127.0.0.1:{port} within {timeout}s")


def stop(process: subprocess.Popen | None, sig: int = signal.SIGTERM, grace: float = 30) -> None:
    """Signal the process group, and kill it if it has not exited after `grace` seconds."""
    if process is None or process.poll() is not None:
        return
    os.killpg(process.pid, sig)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
