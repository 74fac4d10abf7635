"""`bounceback create-topics`, `publish` and `export-log`: the pipeline's topics, a log into
the inbound topic (ingress/), and the log as applied out of it (streams/export.py)."""

from __future__ import annotations

import asyncio
import sys

import click
from rich.progress import Progress

from bounceback.files import count_lines
from bounceback.options import pipeline_options, region_option, settings, writable_file
from bounceback.wording import plural
from ingress.kafka import publish_lines
from streams.admin import ensure_topics
from streams.export import merge_applied, read_topic


@click.command("create-topics")
@pipeline_options
def create_topics(broker, partitions, topic_prefix):
    """Create the pipeline's topics (workers and publish also do this when they are missing)."""
    if broker is None:
        raise click.UsageError("create-topics needs --broker (or KAFKA_BOOTSTRAP)")
    asyncio.run(ensure_topics(settings(broker, partitions, topic_prefix)))
    click.echo(f"topics of {topic_prefix} ready on {broker} ({partitions} partitions)", err=True)


@click.command()
@click.argument("events", metavar="FILE.jsonl", type=click.Path(exists=True, dir_okay=False))
@pipeline_options
@region_option
def publish(events, broker, partitions, topic_prefix, region):
    """Validate a log and publish it to the inbound topic, in order.

    Each address event goes to the partition that owns its address, ticks to every
    partition, so the pipeline applies each address's events in file order. Invalid
    lines are reported with their line number and not published.
    """
    if broker is None:
        raise click.UsageError("publish needs --broker (or KAFKA_BOOTSTRAP)")
    pipeline = settings(broker, partitions, topic_prefix, region=region)
    shown = sys.stderr.isatty()
    total = count_lines(events) if shown else None
    asyncio.run(ensure_topics(pipeline))
    with Progress(transient=True, disable=not shown) as progress:
        task = progress.add_task(f"publishing {events}", total=total)
        with open(events, "rb") as lines:
            published, rejected = asyncio.run(publish_lines(
                lines, broker, pipeline.topics.inbound, partitions, region,
                on_line=lambda n: progress.update(task, completed=n)))
    for line in rejected:
        click.echo(f"{events}:{line.line}: {line.error}", err=True)
    click.echo(f"published {plural(published, 'event')} to {pipeline.topics.inbound}; "
               f"{plural(len(rejected), 'invalid line')} skipped", err=True)


@click.command("export-log")
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False), callback=writable_file,
              help="The JSONL file to write.")
@pipeline_options
def export_log(out_path, broker, partitions, topic_prefix):
    """Write the log as the pipeline applied it (ticks included), so that
    `bounceback replay` of it rebuilds exactly the live state."""
    if broker is None:
        raise click.UsageError("export-log needs --broker (or KAFKA_BOOTSTRAP)")
    records = asyncio.run(read_topic(broker, settings(broker, partitions, topic_prefix).topics.applied))
    # each record holds the lines one batch of one partition applied
    lines = merge_applied({p: [line for _, value, _ in rs for line in value.split(b"\n")] for p, rs in records.items()})
    with open(out_path, "wb") as out:
        for line in lines:
            out.write(line + b"\n")
    click.echo(f"wrote {plural(len(lines), 'event')} to {out_path}", err=True)
