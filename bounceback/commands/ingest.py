"""`bounceback ingest-receipts`: SMPP delivery receipts saved by the sender's SMPP client
(one per line: the deliver_sm's source_addr and short_message, or a JSON object; see
gateways/smpp.py) turned into canonical events and published to the inbound topic.
Registered on the main group by gateway_cli.py, next to `ingest-mail`."""

from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from bounceback.options import timestamp


def command(pipeline_options, _settings) -> click.Command:
    @click.command("ingest-receipts")
    @click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, allow_dash=True))
    @pipeline_options
    @click.option("--default-region", "region", default="SE", show_default=True,
                  help="Region for phone numbers written without a country code.")
    @click.option("--rules", type=click.Path(exists=True, dir_okay=False), help="A rules file tried before the shipped rules.")
    @click.option("--err-codes", default="gsm_map", show_default=True,
                  help="The rules table the receipts' `err:` codes are read in: gsm_map (3GPP TS 29.002 causes), "
                       "vonage, sinch, or a provider of your rules file.")
    @click.option("--timezone", "tz_name", default="UTC", show_default=True,
                  help="The SMSC's time zone, of the receipts' dates (IANA name).")
    @click.option("--received-at", callback=timestamp,
                  help="The event time of receipts without a `done date` (RFC 3339; default: now).")
    @click.option("--dry-run", is_flag=True, help="Print the canonical events (JSON lines) instead of publishing them.")
    def ingest_receipts(files, broker, partitions, topic_prefix, region, rules, err_codes, tz_name, received_at,
                        dry_run):
        """Read SMPP delivery receipts (one per line: `SOURCE_ADDR id:... stat:... err:...`, or a
        JSON object; FILE - for stdin) into canonical SMS delivery events and publish them.

        A line that cannot be read is listed with its number and reason; the others are
        still published. The same receipt twice is applied once.
        """
        from bounceback.commands.gateway import print_or_publish, read_input
        from gateways.classify import Classifier, RulesError
        from gateways.common import Rejected
        from gateways.smpp import Reader, read
        from ingress.publisher import route
        from partitions.routing import Router
        from projections.normalize import AddressNormalizer

        if broker is None and not dry_run:
            raise click.UsageError("ingest-receipts needs --broker (or KAFKA_BOOTSTRAP), or --dry-run")
        try:
            reader = Reader(Classifier(override=rules), err_codes, ZoneInfo(tz_name))
        except RulesError as exc:
            raise click.UsageError(str(exc)) from None
        except (ZoneInfoNotFoundError, ValueError):
            raise click.BadParameter(f"{tz_name!r} is not an IANA time zone", param_hint="--timezone") from None
        at = received_at or datetime.now(timezone.utc)
        router = Router(partitions, AddressNormalizer(region))
        lines: list[bytes] = []
        refused = 0
        for name in files:
            try:
                batch = read(read_input(name), reader, at)
            except Rejected as exc:
                refused += 1
                click.echo(f"{name}: refused: {exc.reason}", err=True)
                continue
            routed = batch.route(lambda event: route(event, router))
            for report in batch.dead:
                click.echo(f"{name}: {report.error}", err=True)
            refused += len(batch.dead)
            lines += [r.value for r in routed]
            click.echo(f"{name}: {len(batch.reports)} receipts, {len(batch.events)} events, "
                       f"{len(batch.dead)} not readable", err=True)
        outcome = print_or_publish(lines, dry_run, _settings(broker, partitions, topic_prefix, region=region), region)
        if outcome is not None:
            click.echo(f"{outcome}; {refused} receipts not readable", err=True)

    return ingest_receipts
