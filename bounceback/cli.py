"""The `bounceback` command line."""

from __future__ import annotations

import sys
from datetime import timezone

import click
import msgspec

from bounceback.replay import fold_log, read_lines, write_outputs
from projections.normalize import AddressNormalizer, InvalidAddress, address_key
from projections.policy import Policy
from schemas.events import Timestamp as _Timestamp


def _timestamp(ctx, param, value):
    if value is None:
        return None
    try:
        return msgspec.json.decode(msgspec.json.encode(value), type=_Timestamp).astimezone(timezone.utc)
    except msgspec.ValidationError:
        raise click.BadParameter(f"{value!r} is not an RFC 3339 timestamp, e.g. 2026-03-04T10:00:00Z") from None


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


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """bounceback: bounce and suppression state for email and SMS, from an event log.

    Delivery reports, unsubscribes, bounce lists and unblocks go in; per-address
    suppression records and contact cards come out. See README.md for the pipeline.
    """


@main.command()
@click.argument("events", metavar="EVENTS.jsonl")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False),
              help="Directory for addresses.jsonl, suppressions.jsonl, contacts.jsonl, rejected.jsonl.")
@click.option("--as-of", callback=_timestamp, help="Apply one final tick at this time (RFC 3339).")
@policy_options
def replay(events: str, out_dir: str, as_of, soft_bounce_limit: int, region: str) -> None:
    """Fold a log (one JSON event per line; - for stdin) with the live rules, without Kafka.

    Rejected lines are listed in rejected.jsonl with their line number and reason;
    they never stop the replay. Output is sorted and byte-stable.
    """
    from rich.progress import Progress

    try:
        total = None if events == "-" else _file_lines_hint(events)
        with Progress(transient=True, disable=not sys.stderr.isatty()) as progress:
            task = progress.add_task("replaying", total=total)
            result = fold_log(read_lines(events), _policy(soft_bounce_limit, region), as_of,
                              on_progress=lambda n: progress.update(task, completed=n))
    except OSError as exc:
        raise click.ClickException(f"cannot read {events}: {exc.strerror or exc}") from None
    counts = write_outputs(result, out_dir)
    click.echo(
        f"replayed {result.events} events ({counts['rejected']} rejected): "
        f"{counts['addresses']} addresses, {counts['suppressions']} suppressed, {counts['contacts']} contacts -> {out_dir}",
        err=True,
    )


def _file_lines_hint(path: str) -> int | None:
    with open(path, "rb") as f:
        return sum(chunk.count(b"\n") for chunk in iter(lambda: f.read(1 << 20), b""))


@main.command()
@click.argument("channel", type=click.Choice(["email", "sms"]))
@click.argument("address")
@click.option("--events", required=True, metavar="EVENTS.jsonl", help="The log to read (- for stdin).")
@click.option("--as-of", callback=_timestamp, help="Apply one final tick at this time (RFC 3339).")
@click.option("--json", "as_json", is_flag=True, help="Print the trail as JSON lines.")
@policy_options
def explain(channel: str, address: str, events: str, as_of, as_json: bool, soft_bounce_limit: int, region: str) -> None:
    """Print the audit trail of one address: each event that touched it, in log order,
    and the decision it caused."""
    try:
        normalised = AddressNormalizer(region)(channel, address)
    except InvalidAddress as exc:
        raise click.BadParameter(str(exc), param_hint="ADDRESS") from None
    key = address_key(channel, normalised)
    try:
        result = fold_log(read_lines(events), _policy(soft_bounce_limit, region), as_of, audit=[key])
    except OSError as exc:
        raise click.ClickException(f"cannot read {events}: {exc.strerror or exc}") from None
    entries = result.ledger.trail.entries.get(key, [])
    state = result.ledger.addresses.get(key)
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


if __name__ == "__main__":
    main()
