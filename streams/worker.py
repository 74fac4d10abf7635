"""Starting a worker: topics first, then the faust worker, which owns the process until
it is stopped (Ctrl-C or SIGTERM: offsets committed, state closed, group left). A worker
that crashes starts itself again, from the last commit."""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import shutil
import sys
import time
from pathlib import Path

import faust

from streams.admin import ensure_topics, resolve_processing_guarantee
from streams import fence
from streams.app import Pipeline
from streams.fence import FenceError
from streams.settings import Settings


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    logging.basicConfig(level=loglevel.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    collect_garbage_less_often()
    try:
        fence.verify()  # before anything else: faust and aiokafka are versions the fence knows
    except FenceError as exc:
        raise SystemExit(str(exc)) from None
    asyncio.run(ensure_topics(settings))
    settings.processing_guarantee = asyncio.run(resolve_processing_guarantee(settings))
    pipeline = Pipeline(settings)
    log = logging.getLogger("bounceback")
    log.info("worker on %s: %d partitions, %s, state in %s, http://%s:%d", settings.broker, settings.partitions,
             settings.processing_guarantee, settings.datadir, settings.web_host, settings.web_port)
    if settings.processing_guarantee == "exactly_once":
        discard_state_after_crash(Path(settings.datadir), log)
    worker = faust.Worker(pipeline.app, loglevel=loglevel, quiet=True, redirect_stdouts=False,
                          stdout=open(os.devnull, "w"))
    clean = False
    try:
        worker.execute_from_commandline()
    except SystemExit as exc:
        clean = exc.code in (None, 0)
        if not clean and settings.restart_on_crash:
            restart_after_crash(log)
        raise
    finally:
        if clean:
            _clean_stop_marker(Path(settings.datadir)).touch()


def collect_garbage_less_often() -> None:
    """A worker allocates a few objects per record and event (records, structs, futures);
    at CPython's default (a young collection every 700 allocations more than frees) it
    spent about a quarter of its time collecting: 3,759 collections, 2.7 s in 10 s of the
    peer bench (exactly-once). At 50,000 it is 10 collections and 0.1 s, and the worker
    went from 15,000 to 19,000 events/s. Memory held by cycles waits a little longer."""
    gc.set_threshold(50_000, 50, 100)


def restart_after_crash(log: logging.Logger) -> None:
    """Start this worker again in a fresh process: it resumes from the last commit (under
    exactly-once with its local state rebuilt from the changelogs). Restarts are counted,
    and spaced out more the more there have been, so a worker that keeps crashing is seen
    in the log and does not spin."""
    restarts = int(os.environ.get("BOUNCEBACK_RESTARTS", "0")) + 1
    delay = min(60, 2 ** min(restarts, 6))
    log.error("the worker crashed (see above); restart %d in %d s", restarts, delay)
    time.sleep(delay)
    os.environ["BOUNCEBACK_RESTARTS"] = str(restarts)
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])


def _clean_stop_marker(datadir: Path) -> Path:
    return datadir / "stopped-cleanly"


def discard_state_after_crash(datadir: Path, log: logging.Logger) -> None:
    """Under exactly-once, faust writes a batch to RocksDB at once but commits its changelog
    records and input offsets in a transaction later. A worker killed in between leaves
    RocksDB holding writes of an aborted transaction, which restoring from the changelog
    does not undo, and the batch processed again would be taken for a duplicate. So, as
    Kafka Streams does, state left by a worker that did not stop cleanly is discarded and
    rebuilt from the committed changelogs."""
    marker = _clean_stop_marker(datadir)
    if marker.exists():
        marker.unlink()
    elif datadir.exists() and any(datadir.iterdir()):
        log.warning("the last worker on %s did not stop cleanly: discarding its local state, "
                    "restoring from the changelogs", datadir)
        shutil.rmtree(datadir)
