"""Starting a worker: topics first, then the faust worker, which owns the process until
it is stopped (Ctrl-C or SIGTERM: offsets committed, state closed, group left)."""

from __future__ import annotations

import asyncio
import logging
import os

from streams.admin import ensure_topics
from streams.settings import Settings


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    import faust

    from streams.app import Pipeline

    logging.basicConfig(level=loglevel.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    asyncio.run(ensure_topics(settings))
    pipeline = Pipeline(settings)
    log = logging.getLogger("bounceback")
    log.info("worker on %s: %d partitions, state in %s, http://%s:%d", settings.broker, settings.partitions,
             settings.datadir, settings.web_host, settings.web_port)
    worker = faust.Worker(pipeline.app, loglevel=loglevel, quiet=True, redirect_stdouts=False,
                          stdout=open(os.devnull, "w"))
    worker.execute_from_commandline()
