"""`bounceback replay` and `bounceback explain`: a log folded without Kafka, by replay/."""

from __future__ import annotations

import os
import sys

import click
import msgspec
from rich.progress import Progress

from bounceback.files import count_lines, readable_log
from bounceback.options import policy_options, timestamp
from bounceback.wording import plural
from partitions.routing import partition_for
from projections.normalise import AddressNormaliser, InvalidAddress, address_key
from projections.policy import Policy
from replay.runner import DEFAULT_PARTITIONS, file_lines, fold, replay_file


@click.command()
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
def replay(events: str, out_dir: str, as_of, jobs: int, partitions: int, policy: Policy) -> None:
    """Fold a log (one JSON event per line; - for stdin) with the live pipeline's partition
    processors, without Kafka.

    Rejected lines are listed in rejected.jsonl with their line number and reason;
    they never stop the replay. Output is sorted and byte-stable.
    """
    with readable_log(events) as path:
        shown = sys.stderr.isatty()
        # counting the lines reads the file once more: only worth it when a bar is shown
        total = count_lines(path) if shown else None
        with Progress(transient=True, disable=not shown) as progress:
            task = progress.add_task("replaying", total=total)
            summary = replay_file(path, out_dir, policy, as_of, jobs=jobs,
                                  partitions=partitions, on_progress=lambda n: progress.update(task, completed=n))
    counts = summary.counts
    click.echo(
        f"replayed {plural(summary.events, 'event')} ({counts['rejected']} rejected): "
        f"{plural(counts['addresses'], 'address')}, {counts['suppressions']} suppressed, "
        f"{plural(counts['contacts'], 'contact')} -> {out_dir}",
        err=True,
    )


@click.command()
@click.argument("channel", type=click.Choice(["email", "sms"]))
@click.argument("address")
@click.option("--events", required=True, metavar="EVENTS.jsonl", help="The log to read (- for stdin).")
@click.option("--as-of", callback=timestamp, help="Apply one final tick at this time (RFC 3339).")
@click.option("--json", "as_json", is_flag=True, help="Print the trail as JSON lines.")
@policy_options
def explain(channel: str, address: str, events: str, as_of, as_json: bool, policy: Policy) -> None:
    """Print the audit trail of one address: each event that touched it, in log order,
    and the decision it caused."""
    try:
        normalised = AddressNormaliser(policy.default_region)(channel, address)
    except InvalidAddress as exc:
        raise click.BadParameter(str(exc), param_hint="ADDRESS") from None
    key = address_key(channel, normalised)
    with readable_log(events) as path:
        share = fold(file_lines(path), policy, as_of, audit={key}.__contains__,
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
