"""`bounceback ingest-mail` and `bounceback ingest-receipts`: reports saved to files (bounce
mails; SMPP delivery receipts saved by the sender's SMPP client, one per line: the
deliver_sm's source_addr and short_message, or a JSON object, see gateways/smpp.py) turned
into canonical events by the gateway's adapters and published to the inbound topic, or
printed (--dry-run)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from bounceback.files import read_input
from bounceback.options import pipeline_options, region_option, settings, timestamp
from gateways.classify import Classifier, RulesError
from gateways.common import Rejected
from gateways.mail import ingest
from gateways.smpp import Reader, read
from ingress.kafka import publish_lines
from ingress.publisher import route
from partitions.routing import Router
from projections.normalise import AddressNormaliser
from schemas.events import encode_event
from streams.admin import ensure_topics
from streams.settings import Settings

_rules_option = click.option("--rules", type=click.Path(exists=True, dir_okay=False),
                             help="A rules file tried before the shipped rules.")
_dry_run_option = click.option("--dry-run", is_flag=True,
                               help="Print the canonical events (JSON lines) instead of publishing them.")


def print_or_publish(lines: list[bytes], dry_run: bool, pipeline: Settings, region: str) -> str | None:
    """The events of an ingest command: printed (a dry run), or published to the inbound
    topic, each invalid one listed; then what was published, for the command's summary."""
    if dry_run:
        for line in lines:
            click.echo(line.decode())
        return None
    asyncio.run(ensure_topics(pipeline))
    published, rejected = asyncio.run(publish_lines(lines, pipeline.broker, pipeline.topics.inbound,
                                                    pipeline.partitions, region))
    for line in rejected:
        click.echo(f"event {line.line}: {line.error}", err=True)
    return f"published {published} events to {pipeline.topics.inbound}; {len(rejected)} events invalid"


@click.command("ingest-mail")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@pipeline_options
@region_option
@_rules_option
@_dry_run_option
def ingest_mail(files, broker, partitions, topic_prefix, region, rules, dry_run):
    """Parse bounce mails (RFC 3464 DSNs, RFC 5965 ARF complaints; one RFC 822 message per
    FILE, - for stdin) into canonical events and publish them to the inbound topic.

    Auto-replies and redacted feedback reports are skipped, and so is a recipient that is
    not an address, each listed with the reason; a file that is not a report is listed
    with the reason and the others are still published. The events are those `POST /mail`
    of the gateway publishes for the same mail.
    """
    if broker is None and not dry_run:
        raise click.UsageError("ingest-mail needs --broker (or KAFKA_BOOTSTRAP), or --dry-run")
    try:
        classifier = Classifier(override=rules)
    except RulesError as exc:
        raise click.UsageError(str(exc)) from None
    normalise = AddressNormaliser(region)
    lines: list[bytes] = []
    refused = 0
    for name in files:
        raw = read_input(name)
        try:
            result = ingest(raw, classifier, normalise, arrived=datetime.now(timezone.utc))
        except Rejected as exc:
            refused += 1
            click.echo(f"{name}: refused: {exc.reason}", err=True)
            continue
        if result.skipped:
            click.echo(f"{name}: skipped as {result.skipped}: {result.note}", err=True)
        else:
            click.echo(f"{name}: {result.kind}, {len(result.events)} events", err=True)
        for skipped in result.skipped_recipients:
            click.echo(f"{name}: recipient {skipped.recipient!r} skipped: {skipped.reason}", err=True)
        lines += [encode_event(e) for e in result.events]
    outcome = print_or_publish(lines, dry_run, settings(broker, partitions, topic_prefix, region=region), region)
    if outcome is not None:
        click.echo(f"{outcome}; {refused} files refused", err=True)


@click.command("ingest-receipts")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, allow_dash=True))
@pipeline_options
@region_option
@_rules_option
@click.option("--err-codes", default="gsm_map", show_default=True,
              help="The rules table the receipts' `err:` codes are read in: gsm_map (3GPP TS 29.002 causes), "
                   "vonage, sinch, or a provider of your rules file.")
@click.option("--timezone", "tz_name", default="UTC", show_default=True,
              help="The SMSC's time zone, of the receipts' dates (IANA name).")
@click.option("--received-at", callback=timestamp,
              help="The event time of receipts without a `done date` (RFC 3339; default: now).")
@_dry_run_option
def ingest_receipts(files, broker, partitions, topic_prefix, region, rules, err_codes, tz_name, received_at,
                    dry_run):
    """Read SMPP delivery receipts (one per line: `SOURCE_ADDR id:... stat:... err:...`, or a
    JSON object; FILE - for stdin) into canonical SMS delivery events and publish them.

    A line that cannot be read is listed with its number and reason; the others are
    still published. The same receipt twice is applied once.
    """
    if broker is None and not dry_run:
        raise click.UsageError("ingest-receipts needs --broker (or KAFKA_BOOTSTRAP), or --dry-run")
    try:
        reader = Reader(Classifier(override=rules), err_codes, ZoneInfo(tz_name))
    except RulesError as exc:
        raise click.UsageError(str(exc)) from None
    except (ZoneInfoNotFoundError, ValueError):
        raise click.BadParameter(f"{tz_name!r} is not an IANA time zone", param_hint="--timezone") from None
    at = received_at or datetime.now(timezone.utc)
    router = Router(partitions, AddressNormaliser(region))
    lines: list[bytes] = []
    refused = 0
    for name in files:
        try:
            batch = read(read_input(name), reader, at)
        except Rejected as exc:
            refused += 1
            click.echo(f"{name}: refused: {exc.reason}", err=True)
            continue
        # each receipt checked as the publisher will: one that cannot be published is listed here
        routed = batch.route(lambda event: route(event, router))
        for report in batch.dead:
            click.echo(f"{name}: {report.error}", err=True)
        refused += len(batch.dead)
        lines += [r.value for r in routed]
        click.echo(f"{name}: {len(batch.reports)} receipts, {len(batch.events)} events, "
                   f"{len(batch.dead)} not readable", err=True)
    outcome = print_or_publish(lines, dry_run, settings(broker, partitions, topic_prefix, region=region), region)
    if outcome is not None:
        click.echo(f"{outcome}; {refused} receipts not readable", err=True)
