"""`bounceback plan-sendout`: the command line of the send-out planner (sendout/); its
events are published by the one publisher (ingress/)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from pathlib import Path

import click

from bounceback.options import timestamp
from ingress.kafka import publish_lines
from projections.normalise import AddressNormaliser
from projections.sendout import SendoutPlan, check_sendout_id
from sendout.audience import AudienceError
from sendout.client import SuppressionClient
from sendout.planner import EVENTS, EXCLUDED, RECIPIENTS, plan_audience, suppressions_from_file, summary_text
from streams.admin import ensure_topics
from streams.settings import Settings, Topics

_SHOWN_INVALID = 20  # invalid rows printed; all of them are in excluded.csv


@click.command("plan-sendout")
@click.argument("audience", metavar="AUDIENCE.csv", type=click.Path(exists=True, dir_okay=False))
@click.option("--sendout-id", required=True, help="The send-out's id: message ids, event ids and the control-group draw derive from it.")
@click.option("--channel", required=True, type=click.Choice(["email", "sms"]), help="The channel the send-out uses.")
@click.option("--purpose", default="marketing", show_default=True, type=click.Choice(["marketing", "transactional"]),
              help="transactional still sends to addresses that are only unsubscribed (or complained).")
@click.option("--control-group", "control_percent", default=0.0, show_default=True, type=click.FloatRange(0, 100),
              metavar="PERCENT", help="Share of the sendable contacts drawn for the control group.")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="Directory for recipients.csv, excluded.csv, events.jsonl, summary.json [default: sendout-ID].")
@click.option("--emit-sent", is_flag=True, help="Also publish a `sent` event per recipient (simulations and demos).")
@click.option("--broker", envvar="KAFKA_BOOTSTRAP", default=None,
              help="Kafka bootstrap servers: suppressions are read from the topic, events published.")
@click.option("--partitions", envvar="BOUNCEBACK_PARTITIONS", default=4, show_default=True, type=click.IntRange(1),
              help="Partitions of the pipeline's topics.")
@click.option("--topic-prefix", envvar="BOUNCEBACK_TOPIC_PREFIX", default="bounceback", show_default=True,
              help="Prefix of every topic name (e.g. bounceback.suppressions).")
@click.option("--store", default="bounceback-suppressions", show_default=True, type=click.Path(file_okay=False),
              help="Where the local view of the suppression topic is kept (a subdirectory per topic); "
                   "the next run resumes from it.")
@click.option("--suppressions", "suppressions_file", type=click.Path(exists=True, dir_okay=False),
              help="Plan against address records in this JSONL file (e.g. a replay's suppressions.jsonl) "
                   "instead of the topic.")
@click.option("--catch-up-timeout", default=600.0, show_default=True, type=float,
              help="Seconds to wait for the view of the suppression topic to reach its end.")
@click.option("--at", "occurred_at", callback=timestamp, help="occurred_at of the events [default: now].")
@click.option("--default-region", "region", default="SE", show_default=True,
              help="Region for phone numbers written without a country code.")
def plan_sendout(audience, sendout_id, channel, purpose, control_percent, out_dir, emit_sent, broker, partitions,
                 topic_prefix, store, suppressions_file, catch_up_timeout, occurred_at, region):
    """Plan a send-out (RULES.md §5): read an audience CSV (columns contact_id and address),
    drop invalid and suppressed addresses, use each address once (the first contact in the
    file keeps it), draw a deterministic control group and publish a `control_group`
    delivery event for each of its contacts. Writes the recipient list and a summary."""
    try:
        check_sendout_id(sendout_id)
    except ValueError as exc:
        raise click.ClickException(f"--sendout-id: {exc}") from None
    if broker is None and suppressions_file is None:
        raise click.UsageError("plan-sendout needs --broker (the suppression topic) or --suppressions FILE")
    out = Path(out_dir or f"sendout-{sendout_id}")
    topics = Topics(topic_prefix)
    client = None
    if suppressions_file is not None:
        try:
            reasons_of = suppressions_from_file(suppressions_file).get
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
    else:
        client = SuppressionClient(broker, Path(store) / topics.suppressions, topics.suppressions,
                                   default_region=region).start()
        click.echo(f"reading {topics.suppressions} into {Path(store) / topics.suppressions} ...", err=True)
        if not client.wait_caught_up(catch_up_timeout):
            lag, error = client.lag, client.error
            client.stop()
            raise click.ClickException(
                f"the view of {topics.suppressions} did not reach the end of the topic "
                + (f"({error!r})" if error else f"within {catch_up_timeout:g} s ({lag} records behind)")
                + ": nothing planned")
        stats = client.stats
        click.echo(f"suppression view caught up: {stats.records_read} records read this run"
                   + (" (resumed from stored offsets)" if stats.resumed_from else ""), err=True)
        reasons_of = client.reasons_of_key
    shown = 0

    def on_invalid(line: str, error: str) -> None:
        nonlocal shown
        shown += 1
        if shown <= _SHOWN_INVALID:
            click.echo(f"{audience}:{line}: {error}", err=True)

    try:
        plan = SendoutPlan(sendout_id, channel, purpose, control_percent, reasons_of, AddressNormaliser(region))
        occurred_at = occurred_at or datetime.now(timezone.utc).replace(microsecond=0)
        summary = plan_audience(audience, plan, out, occurred_at, emit_sent, on_invalid)
    except AudienceError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"{audience}: cannot be read: {exc}") from None
    finally:
        if client is not None:
            client.stop()
    if shown > _SHOWN_INVALID:
        click.echo(f"... {shown - _SHOWN_INVALID} more invalid rows in {out / EXCLUDED}", err=True)
    click.echo(summary_text(summary))
    click.echo(f"recipients -> {out / RECIPIENTS}; every row not sent -> {out / EXCLUDED}")
    if summary.unread is not None:
        # a plan of part of the audience: the rest would get no message and no record of why
        raise click.ClickException(f"{audience}: {summary.unread}; the plan covers the lines before, "
                                   "nothing published")
    if broker is None:
        click.echo(f"events not published (no --broker): publish {out / EVENTS} with `bounceback publish`")
        return
    published = _publish(out / EVENTS, broker, partitions, topics)
    click.echo(f"published {published} events to {topics.inbound} ({summary.control_group} control_group"
               + (f", {summary.to_send} sent" if emit_sent else "") + ")")


def _publish(events: Path, broker: str, partitions: int, topics: Topics) -> int:
    # checks the inbound topic's partition count, so events reach their addresses' partitions
    asyncio.run(ensure_topics(Settings(broker=broker, partitions=partitions, topics=topics)))
    with open(events, "rb") as lines:
        published, rejected = asyncio.run(publish_lines(lines, broker, topics.inbound, partitions))
    if rejected:  # the planner's own events: a bug, not bad input
        raise click.ClickException(f"{events}:{rejected[0].line}: {rejected[0].error}")
    return published
