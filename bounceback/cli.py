"""The `bounceback` command line."""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

import click
import msgspec

from bounceback.errors import CommandGroup
from bounceback.options import timestamp, writable_file
from bounceback.wording import plural
from partitions.routing import partition_for
from projections.normalize import AddressNormalizer, InvalidAddress, address_key
from replay.runner import DEFAULT_PARTITIONS
from projections.policy import Policy


def _policy(soft_bounce_limit: int, region: str) -> Policy:
    return Policy(soft_bounce_limit=soft_bounce_limit, default_region=region)


_policy_options = [
    click.option("--soft-bounce-limit", default=10, show_default=True, type=click.IntRange(min=1),
                 help="Consecutive email soft bounces that block an address."),
    click.option("--default-region", "region", default="SE", show_default=True,
                 help="Region for phone numbers written without a country code."),
]


def policy_options(f):
    for option in reversed(_policy_options):
        f = option(f)
    return f


@click.group(cls=CommandGroup, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """bounceback: bounce and suppression state for email and SMS, from an event log.

    Delivery reports, unsubscribes, bounce lists and unblocks go in; per-address
    suppression records and contact cards come out. See README.md for the pipeline.
    """


@main.command()
@click.argument("events", metavar="EVENTS.jsonl")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Directory for addresses.jsonl, suppressions.jsonl, contacts.jsonl, rejected.jsonl.")
@click.option("--as-of", callback=timestamp, help="Apply one final tick at this time (RFC 3339).")
@click.option("--jobs", default=os.cpu_count() or 1, show_default="the number of cores", type=click.IntRange(1),
              help="Processes to replay in, each holding the state of its share of the partitions "
                   "(at most one per partition). The output does not depend on it.")
@click.option("--partitions", envvar="BOUNCEBACK_PARTITIONS", show_envvar=True, default=DEFAULT_PARTITIONS,
              show_default=True, type=click.IntRange(1),
              help="Partitions the log is routed to, as the pipeline's (the output does not depend on it).")
@policy_options
def replay(events: str, out_dir: str, as_of, jobs: int, partitions: int, soft_bounce_limit: int, region: str) -> None:
    """Fold a log (one JSON event per line; - for stdin) with the live pipeline's partition
    processors, without Kafka.

    Rejected lines are listed in rejected.jsonl with their line number and reason;
    they never stop the replay. Output is sorted and byte-stable.
    """
    from rich.progress import Progress

    from replay.runner import replay_file

    with _readable_log(events) as path:
        shown = sys.stderr.isatty()
        # counting the lines reads the file once more: only worth it when a bar is shown
        total = _file_lines_hint(path) if shown else None
        with Progress(transient=True, disable=not shown) as progress:
            task = progress.add_task("replaying", total=total)
            summary = replay_file(path, out_dir, _policy(soft_bounce_limit, region), as_of, jobs=jobs,
                                  partitions=partitions, on_progress=lambda n: progress.update(task, completed=n))
    counts = summary.counts
    click.echo(
        f"replayed {plural(summary.events, 'event')} ({counts['rejected']} rejected): "
        f"{plural(counts['addresses'], 'address')}, {counts['suppressions']} suppressed, "
        f"{plural(counts['contacts'], 'contact')} -> {out_dir}",
        err=True,
    )


@contextmanager
def _readable_log(events: str) -> Iterator[str]:
    """The log as a file that can be read more than once: standard input is copied to a
    temporary file first."""
    if events != "-":
        try:
            with open(events, "rb"):
                pass
        except OSError as exc:
            raise click.ClickException(f"cannot read {events}: {exc.strerror or exc}") from None
        yield events
        return
    with tempfile.NamedTemporaryFile(prefix="bounceback-stdin-", suffix=".jsonl") as copy:
        shutil.copyfileobj(sys.stdin.buffer, copy)
        copy.flush()
        yield copy.name


def _file_lines_hint(path: str) -> int | None:
    with open(path, "rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


@main.command()
@click.argument("channel", type=click.Choice(["email", "sms"]))
@click.argument("address")
@click.option("--events", required=True, metavar="EVENTS.jsonl", help="The log to read (- for stdin).")
@click.option("--as-of", callback=timestamp, help="Apply one final tick at this time (RFC 3339).")
@click.option("--json", "as_json", is_flag=True, help="Print the trail as JSON lines.")
@policy_options
def explain(channel: str, address: str, events: str, as_of, as_json: bool, soft_bounce_limit: int, region: str) -> None:
    """Print the audit trail of one address: each event that touched it, in log order,
    and the decision it caused."""
    from replay.runner import file_lines, fold

    try:
        normalised = AddressNormalizer(region)(channel, address)
    except InvalidAddress as exc:
        raise click.BadParameter(str(exc), param_hint="ADDRESS") from None
    key = address_key(channel, normalised)
    with _readable_log(events) as path:
        share = fold(file_lines(path), _policy(soft_bounce_limit, region), as_of, audit={key}.__contains__,
                     address_partitions=[partition_for(key, DEFAULT_PARTITIONS)])
    entries = share.trail.get(key, [])
    state = share.addresses.get(key)
    if as_json:
        for entry in entries:
            click.echo(msgspec.json.encode(entry))
        return
    if state is None:
        click.echo(f"{key}: no event in {events} touches this address")
        return
    click.echo(f"{key}")
    for entry in entries:
        stamp = msgspec.json.encode(entry.at).decode().strip('"')
        click.echo(f"  {stamp}  {entry.event_id or '(clock)'}  {entry.event}\n      {entry.decision}")
    record = state.record()
    reasons = ", ".join(record.reasons) or "none"
    click.echo(f"now: {record.state} (reasons: {reasons}; soft bounces: {record.soft_bounces})")


# -- the pipeline ------------------------------------------------------------------------------

_pipeline_options = [
    click.option("--broker", envvar="KAFKA_BOOTSTRAP", default=None,
                 help="Kafka bootstrap servers (host:port)."),
    click.option("--partitions", envvar="BOUNCEBACK_PARTITIONS", default=4, show_default=True, type=click.IntRange(1),
                 help="Partitions of the pipeline's topics and tables."),
    click.option("--topic-prefix", envvar="BOUNCEBACK_TOPIC_PREFIX", default="bounceback", show_default=True,
                 help="Prefix of every topic name (e.g. bounceback.events)."),
]


def pipeline_options(f):
    for option in reversed(_pipeline_options):
        f = option(f)
    return f


def _worker_options(f):
    for option in reversed([
        click.option("--web-port", envvar="BOUNCEBACK_WEB_PORT", default=6066, show_default=True, type=int,
                     help="Port of the worker's HTTP lookups and /metrics."),
        click.option("--web-bind", envvar="BOUNCEBACK_WEB_BIND", default="127.0.0.1", show_default=True,
                     help="Address the HTTP server listens on (0.0.0.0 in a container)."),
        click.option("--web-host", envvar="BOUNCEBACK_WEB_HOST", default="127.0.0.1", show_default=True,
                     help="Host name other workers reach this one at, to forward lookups it owns."),
        click.option("--clock-interval", envvar="BOUNCEBACK_CLOCK_INTERVAL", default=60.0, show_default=True,
                     type=float, help="Seconds between wall-clock ticks; 0 switches the clock off."),
        click.option("--loglevel", default="info", show_default=True,
                     type=click.Choice(["debug", "info", "warning", "error"]), help="Least severe log messages shown."),
        click.option("--restart-on-crash/--exit-on-crash", envvar="BOUNCEBACK_RESTART_ON_CRASH", default=True,
                     show_default=True, help="After a crash, start the worker again from the last commit, "
                                             "or exit (non-zero) and leave that to a supervisor."),
        click.option("--processing-guarantee", envvar="BOUNCEBACK_PROCESSING_GUARANTEE", default="auto",
                     show_default=True, type=click.Choice(["auto", "at_least_once", "exactly_once"]),
                     help="auto is exactly_once when the broker has transactions (Apache Kafka; checked "
                          "at start), else at_least_once (the embedded broker has none)."),
        click.option("--operator-token", envvar="BOUNCEBACK_OPERATOR_TOKEN", default=None, show_envvar=True,
                     help="Bearer token of the operator API (unblock, bounce-list upload); unset: that API is off. "
                          "Prefer the environment variable: a command line is visible to every local user."),
    ]):
        f = option(f)
    return f


def _datadir_option(default: str | None, default_text: str):
    return click.option("--datadir", envvar="BOUNCEBACK_DATADIR", default=default, show_default=default_text,
                        type=click.Path(file_okay=False), help="Where the worker keeps its RocksDB tables.")


def _embedded_state_dir(datadir: str) -> None:
    """The embedded broker starts empty, so a worker's state from an earlier run would not match
    it: the directory is emptied, but only when it holds nothing else than such state."""
    import re
    import shutil
    from pathlib import Path

    path = Path(datadir)
    if not path.is_dir():
        return
    other = sorted(p.name for p in path.iterdir() if not re.fullmatch(r"v\d+|stopped-cleanly", p.name))
    if other:
        raise click.UsageError(f"--datadir {datadir} holds files that are not a worker's state ({', '.join(other[:3])}): "
                               "the embedded broker starts empty, so give a new or empty directory")
    shutil.rmtree(path)


def _settings(broker, partitions, topic_prefix, soft_bounce_limit=10, region="SE", **worker):
    from streams.settings import Settings, Topics

    return Settings(broker=broker, partitions=partitions, topics=Topics(topic_prefix),
                    policy=_policy(soft_bounce_limit, region),
                    session_timeout=float(os.environ.get("BOUNCEBACK_SESSION_TIMEOUT", 6.0)), **worker)


@main.command()
@pipeline_options
@_datadir_option(None, "a temporary directory, removed on exit")
@_worker_options
@policy_options
def run(broker, partitions, topic_prefix, datadir, web_port, web_bind, web_host, clock_interval, loglevel,
        restart_on_crash, processing_guarantee, operator_token, soft_bounce_limit, region):
    """Run the pipeline: a worker, and the embedded broker when no --broker is given.

    With no broker configured it starts the embedded Tansu broker (in memory: its data,
    and so the worker's state, last only as long as this command), creates the topics and
    starts one worker. With --broker (or KAFKA_BOOTSTRAP) it uses that cluster. The state
    is kept in a temporary directory removed on exit, unless --datadir is given.
    Stops cleanly on Ctrl-C.
    """
    import shutil
    import tempfile

    from streams.tansu import EmbeddedBroker
    from streams.worker import run_worker

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
        settings = _settings(broker, partitions, topic_prefix, soft_bounce_limit, region, datadir=datadir,
                             web_port=web_port, web_bind=web_bind, web_host=web_host, clock_interval=clock_interval,
                             tansu=embedded is not None, processing_guarantee=processing_guarantee,
                             operator_token=operator_token, restart_on_crash=restart_on_crash)
        run_worker(settings, loglevel)
    finally:
        if embedded is not None:
            embedded.stop()
        if temporary:
            shutil.rmtree(datadir, ignore_errors=True)


@main.command()
@pipeline_options
@_datadir_option("bounceback-data", "bounceback-data")
@_worker_options
@policy_options
@click.option("--embedded-broker", is_flag=True, help="The broker is the embedded Tansu (applies its workarounds).")
def worker(broker, partitions, topic_prefix, datadir, web_port, web_bind, web_host, clock_interval, loglevel,
           restart_on_crash, processing_guarantee, operator_token, soft_bounce_limit, region, embedded_broker):
    """Start one more worker: it joins the consumer group of the workers on the same broker
    and topics, and takes over a share of the partitions."""
    from streams.worker import run_worker

    if broker is None:
        raise click.UsageError("a worker needs --broker (or KAFKA_BOOTSTRAP): the cluster to join")
    settings = _settings(broker, partitions, topic_prefix, soft_bounce_limit, region, datadir=datadir,
                         web_port=web_port, web_bind=web_bind, web_host=web_host, clock_interval=clock_interval,
                         tansu=embedded_broker, processing_guarantee=processing_guarantee,
                         operator_token=operator_token, restart_on_crash=restart_on_crash)
    run_worker(settings, loglevel)


@main.command("create-topics")
@pipeline_options
def create_topics(broker, partitions, topic_prefix):
    """Create the pipeline's topics (workers and publish also do this when they are missing)."""
    import asyncio

    from streams.admin import ensure_topics

    if broker is None:
        raise click.UsageError("create-topics needs --broker (or KAFKA_BOOTSTRAP)")
    asyncio.run(ensure_topics(_settings(broker, partitions, topic_prefix)))
    click.echo(f"topics of {topic_prefix} ready on {broker} ({partitions} partitions)", err=True)


@main.command()
@click.argument("events", metavar="FILE.jsonl", type=click.Path(exists=True, dir_okay=False))
@pipeline_options
@click.option("--default-region", "region", default="SE", show_default=True,
              help="Region for phone numbers written without a country code.")
def publish(events, broker, partitions, topic_prefix, region):
    """Validate a log and publish it to the inbound topic, in order.

    Each address event goes to the partition that owns its address, ticks to every
    partition, so the pipeline applies each address's events in file order. Invalid
    lines are reported with their line number and not published.
    """
    import asyncio

    from rich.progress import Progress

    from ingress.kafka import publish_lines
    from streams.admin import ensure_topics

    if broker is None:
        raise click.UsageError("publish needs --broker (or KAFKA_BOOTSTRAP)")
    settings = _settings(broker, partitions, topic_prefix, region=region)
    shown = sys.stderr.isatty()
    total = _file_lines_hint(events) if shown else None
    asyncio.run(ensure_topics(settings))
    with Progress(transient=True, disable=not shown) as progress:
        task = progress.add_task(f"publishing {events}", total=total)
        with open(events, "rb") as lines:
            published, rejected = asyncio.run(publish_lines(
                lines, broker, settings.topics.inbound, partitions, region,
                on_line=lambda n: progress.update(task, completed=n)))
    for line in rejected:
        click.echo(f"{events}:{line.line}: {line.error}", err=True)
    click.echo(f"published {plural(published, 'event')} to {settings.topics.inbound}; "
               f"{plural(len(rejected), 'invalid line')} skipped", err=True)


@main.command()
@click.option("--events", default=None, type=click.Path(exists=True, dir_okay=False),
              help="The log to publish [default: examples/sample.jsonl].")
@click.option("--keep-running", is_flag=True,
              help="Keep the worker, the broker and the worker's HTTP pages up until Ctrl-C, "
                   "and print the URLs to open.")
def demo(events, keep_running):
    """Start the embedded broker and a worker, publish the sample log, show suppressions as they
    appear and the contact cards once the pipeline has settled, and check the live state against
    `bounceback replay`. Its work files are removed at the end."""
    from pathlib import Path

    from bounceback.commands.demo import run_demo

    sample = Path("examples") / "sample.jsonl"
    if events is None:  # beside the package in a checkout; in the working directory in the image
        events = next((p for p in (Path(__file__).resolve().parent.parent / sample, sample) if p.is_file()), None)
        if events is None:
            raise click.ClickException(f"no {sample} here: pass --events FILE.jsonl")
    if not run_demo(Path(events), keep_running=keep_running):
        raise SystemExit(1)


@main.command("export-log")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False), callback=writable_file,
              help="The JSONL file to write.")
@pipeline_options
def export_log(out_path, broker, partitions, topic_prefix):
    """Write the log as the pipeline applied it (ticks included), so that
    `bounceback replay` of it rebuilds exactly the live state."""
    import asyncio

    from streams.export import merge_applied, read_topic

    if broker is None:
        raise click.UsageError("export-log needs --broker (or KAFKA_BOOTSTRAP)")
    settings = _settings(broker, partitions, topic_prefix)
    records = asyncio.run(read_topic(broker, settings.topics.applied))
    # each record holds the lines one batch of one partition applied
    lines = merge_applied({p: [line for _, value, _ in rs for line in value.split(b"\n")] for p, rs in records.items()})
    with open(out_path, "wb") as out:
        for line in lines:
            out.write(line + b"\n")
    click.echo(f"wrote {plural(len(lines), 'event')} to {out_path}", err=True)


from bounceback.commands.sendout import plan_sendout  # noqa: E402 - the send-out planner's own module

main.add_command(plan_sendout)

from bounceback.commands.gateway import register as _register_gateway  # noqa: E402

_register_gateway(main, pipeline_options, _settings)

from bounceback.commands.bounce_list import import_bounce_list  # noqa: E402  (a command in its own module)

main.add_command(import_bounce_list)


if __name__ == "__main__":
    main()
