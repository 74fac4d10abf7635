"""`bounceback import-bounce-list`: options, progress bar, report, summary. The reading and
publishing are in ingress/bounce_list.py."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import datetime, timezone

import click
from aiokafka.errors import KafkaError
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from bounceback.options import pipeline_options, region_option, settings, timestamp
from ingress.bounce_list import import_file
from projections.bounce_list import CHANNELS, LISTS, Invalid
from streams.admin import ensure_topics


@click.command("import-bounce-list")
@click.argument("path", metavar="FILE.csv", type=click.Path(exists=True, dir_okay=False))
@click.option("--list", "list_name", required=True, type=click.Choice(LISTS),
              help="bounced: the addresses get reason bounce_list (blocked); unsubscribed: reason unsubscribed.")
@click.option("--channel", default="auto", show_default=True, type=click.Choice(CHANNELS),
              help="What the values are; auto: a value with @ is an email, any other a phone number.")
@click.option("--dry-run", is_flag=True, help="Check the file and print the summary; publish nothing.")
@click.option("--occurred-at", callback=timestamp,
              help="Event time of the entries (RFC 3339); default: now. A re-import is ignored whatever its time.")
@region_option
@pipeline_options
def import_bounce_list(path, list_name, channel, dry_run, occurred_at, region, broker, partitions, topic_prefix):
    """Import a bounce list: one bounce_list event per valid row of FILE.csv.

    Accepts UTF-8 with or without BOM, a header row or none, comma or semicolon, quoted
    values, blank lines and stray white space. Every invalid row is reported with its
    line number and reason; the other rows are imported. Each entry's event id comes from
    (list, channel, address), so importing the same file again changes nothing.
    """
    pipeline = settings(broker, partitions, topic_prefix, region=region)
    topics = pipeline.topics
    target = None
    if not dry_run:
        if broker is None:
            raise click.UsageError("import-bounce-list needs --broker (or KAFKA_BOOTSTRAP), or --dry-run")
        try:
            asyncio.run(ensure_topics(pipeline))
        except KafkaError as exc:
            raise click.ClickException(f"cannot reach the broker {broker}: {exc}") from None
        target = (broker, topics.inbound, partitions)

    console = Console(stderr=True)
    shown = console.is_terminal

    def report(item: Invalid) -> None:
        message = f"{path}:{item.line}: {item.reason}"
        if shown:
            console.print(message, markup=False, highlight=False, soft_wrap=True)
        else:
            click.echo(message, err=True)

    columns = [TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
               TextColumn("{task.fields[rows]:,} rows"), TimeRemainingColumn()]
    with Progress(*columns, console=console, transient=True, disable=not shown) as progress:
        task = progress.add_task(f"importing {os.path.basename(path)}", total=os.path.getsize(path), rows=0)
        try:
            summary = import_file(path, list_name, channel, occurred_at or datetime.now(timezone.utc), region, target,
                                  report, lambda done, rows: progress.update(task, completed=done, rows=rows))
        except OSError as exc:
            raise click.ClickException(f"cannot read {path}: {exc.strerror or exc}") from None
        except Exception as exc:  # the broker failed mid-way: what was sent is applied once, so re-run the import
            if type(exc).__module__.startswith("aiokafka"):
                raise click.ClickException(f"publishing to {broker} failed: {exc!r}; importing again is safe") from None
            raise
    verb = "would import" if dry_run else f"imported to {topics.inbound}"
    click.echo(
        f"{path}: {summary.lines} lines: {verb} {summary.imported} entries (list {list_name}); "
        f"{summary.duplicates} duplicates within the file; {summary.invalid} invalid; "
        f"{summary.blank} blank; header row: {'yes' if summary.header else 'no'}; "
        f"separator {summary.delimiter!r}"
    )
    sys.stdout.flush()
