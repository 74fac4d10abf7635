"""`bounceback run` and `bounceback worker`: the live pipeline's workers (streams/)."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import click

from bounceback.options import datadir_option, pipeline_options, policy_options, settings, worker_options
from streams.tansu import EmbeddedBroker
from streams.worker import run_worker


def _embedded_state_dir(datadir: str) -> None:
    """The embedded broker starts empty, so a worker's state from an earlier run would not match
    it: the directory is emptied, but only when it holds nothing else than such state."""
    path = Path(datadir)
    if not path.is_dir():
        return
    other = sorted(p.name for p in path.iterdir() if not re.fullmatch(r"v\d+|stopped-cleanly", p.name))
    if other:
        raise click.UsageError(f"--datadir {datadir} holds files that are not a worker's state ({', '.join(other[:3])}): "
                               "the embedded broker starts empty, so give a new or empty directory")
    shutil.rmtree(path)


@click.command()
@pipeline_options
@datadir_option(None, "a temporary directory, removed on exit")
@worker_options
@policy_options
def run(broker, partitions, topic_prefix, datadir, web_port, web_bind, web_host, clock_interval, loglevel,
        restart_on_crash, processing_guarantee, standby_replicas, operator_token, policy):
    """Run the pipeline: a worker, and the embedded broker when no --broker is given.

    With no broker configured it starts the embedded Tansu broker (in memory: its data,
    and so the worker's state, last only as long as this command), creates the topics and
    starts one worker. With --broker (or KAFKA_BOOTSTRAP) it uses that cluster. The state
    is kept in a temporary directory removed on exit, unless --datadir is given.
    Stops cleanly on Ctrl-C.
    """
    if broker is None and processing_guarantee == "exactly_once":
        raise click.UsageError("the embedded broker has no transactions: exactly_once needs --broker")
    if broker is None and datadir is not None:
        _embedded_state_dir(datadir)
    temporary = datadir is None
    if temporary:
        datadir = tempfile.mkdtemp(prefix="bounceback-run-")
    embedded = None
    try:
        if broker is None:
            embedded = EmbeddedBroker().start()
            broker = embedded.bootstrap
            click.echo(f"embedded broker on {broker} (in memory)", err=True)
        run_worker(settings(broker, partitions, topic_prefix, policy=policy, datadir=datadir,
                            web_port=web_port, web_bind=web_bind, web_host=web_host, clock_interval=clock_interval,
                            tansu=embedded is not None, processing_guarantee=processing_guarantee,
                            operator_token=operator_token, restart_on_crash=restart_on_crash,
                            standby_replicas=standby_replicas), loglevel)
    finally:
        if embedded is not None:
            embedded.stop()
        if temporary:
            shutil.rmtree(datadir, ignore_errors=True)


@click.command()
@pipeline_options
@datadir_option("bounceback-data", "bounceback-data")
@worker_options
@policy_options
@click.option("--embedded-broker", is_flag=True, help="The broker is the embedded Tansu (applies its workarounds).")
def worker(broker, partitions, topic_prefix, datadir, web_port, web_bind, web_host, clock_interval, loglevel,
           restart_on_crash, processing_guarantee, standby_replicas, operator_token, policy, embedded_broker):
    """Start one more worker: it joins the consumer group of the workers on the same broker
    and topics, and takes over a share of the partitions."""
    if broker is None:
        raise click.UsageError("a worker needs --broker (or KAFKA_BOOTSTRAP): the cluster to join")
    run_worker(settings(broker, partitions, topic_prefix, policy=policy, datadir=datadir,
                        web_port=web_port, web_bind=web_bind, web_host=web_host, clock_interval=clock_interval,
                        tansu=embedded_broker, processing_guarantee=processing_guarantee,
                        operator_token=operator_token, restart_on_crash=restart_on_crash,
                        standby_replicas=standby_replicas), loglevel)
