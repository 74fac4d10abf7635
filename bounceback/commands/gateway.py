"""The `gateway`, `ingest-mail` and `ingest-receipts` commands, registered on the main group
by cli.py, which passes its shared pipeline options and settings builder (so this module
does not import cli.py, which `python -m bounceback.cli` runs as __main__)."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys

import click


def read_input(name: str) -> bytes:
    """The bytes of a FILE argument, `-` for standard input."""
    try:
        if name == "-":
            return sys.stdin.buffer.read()
        with open(name, "rb") as f:
            return f.read()
    except OSError as exc:
        raise click.ClickException(f"cannot read {name}: {exc.strerror or exc}") from None


def print_or_publish(lines: list[bytes], dry_run: bool, settings, region: str) -> str | None:
    """The events of an ingest command: printed (a dry run), or published to the inbound
    topic, each invalid one listed; then what was published, for the command's summary."""
    if dry_run:
        for line in lines:
            click.echo(line.decode())
        return None
    from ingress.kafka import publish_lines
    from streams.admin import ensure_topics

    asyncio.run(ensure_topics(settings))
    published, rejected = asyncio.run(publish_lines(lines, settings.broker, settings.topics.inbound,
                                                    settings.partitions, region))
    for line in rejected:
        click.echo(f"event {line.line}: {line.error}", err=True)
    return f"published {published} events to {settings.topics.inbound}; {len(rejected)} events invalid"


def register(group: click.Group, pipeline_options, _settings) -> None:
    @click.command()
    @click.option("--config", "config_path", envvar="BOUNCEBACK_GATEWAY_CONFIG", type=click.Path(dir_okay=False),
                  help="The gateway's TOML file: provider secrets, max_body_bytes, rules (README: gateways).")
    @click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0 in a container).")
    @click.option("--port", default=8025, show_default=True, type=int, help="Port to listen on.")
    @pipeline_options
    @click.option("--default-region", "region", default="SE", show_default=True,
                  help="Region for phone numbers written without a country code.")
    @click.option("--loglevel", default="info", show_default=True, type=click.Choice(["debug", "info", "warning", "error"]),
                  help="Least severe log messages shown.")
    def gateway(config_path, host, port, broker, partitions, topic_prefix, region, loglevel):
        """Receive provider webhooks (SES via SNS, SendGrid, Mailgun, Postmark; Twilio, Sinch, Vonage,
        Infobip), SMPP delivery receipts, contract events and bounce mails over HTTP, and publish
        canonical events to the inbound topic."""
        from gateways.service.app import Gateway, serve
        from gateways.classify import RulesError
        from gateways.config import load
        from ingress.kafka import KafkaProducer
        from ingress.publisher import InboundPublisher
        from partitions.routing import Router
        from projections.normalize import AddressNormalizer
        from streams.admin import ensure_topics

        logging.basicConfig(level=loglevel.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
        if broker is None:
            raise click.UsageError("gateway needs --broker (or KAFKA_BOOTSTRAP)")
        try:
            config = load(config_path)
        except ValueError as exc:
            raise click.UsageError(str(exc)) from None
        settings = _settings(broker, partitions, topic_prefix, region=region)
        producer = KafkaProducer(broker)
        publisher = InboundPublisher(producer.send, settings.topics.inbound,
                                     Router(partitions, AddressNormalizer(region)), settings.topics.dead_letters)
        try:
            gw = Gateway(config, publisher)
        except (ValueError, RulesError) as exc:
            raise click.UsageError(str(exc)) from None
        for route in gw.unprotected():
            logging.getLogger("bounceback.gateway").warning("%s accepts unsigned requests: no secret configured", route)

        async def main():
            await ensure_topics(settings)
            await producer.start()
            loop = asyncio.get_running_loop()
            task = asyncio.current_task()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, task.cancel)
            try:
                await serve(gw, host, port, on_ready=lambda: click.echo(
                    f"gateway on http://{host}:{port} publishing to {settings.topics.inbound}", err=True))
            except asyncio.CancelledError:
                pass
            finally:
                await producer.stop()

        asyncio.run(main())


    @click.command("ingest-mail")
    @click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, allow_dash=True))
    @pipeline_options
    @click.option("--default-region", "region", default="SE", show_default=True,
                  help="Region for phone numbers written without a country code.")
    @click.option("--rules", type=click.Path(exists=True, dir_okay=False), help="A rules file tried before the shipped rules.")
    @click.option("--dry-run", is_flag=True, help="Print the canonical events (JSON lines) instead of publishing them.")
    def ingest_mail(files, broker, partitions, topic_prefix, region, rules, dry_run):
        """Parse bounce mails (RFC 3464 DSNs, RFC 5965 ARF complaints; one RFC 822 message per
        FILE, - for stdin) into canonical events and publish them to the inbound topic.

        Auto-replies and redacted feedback reports are skipped, and so is a recipient that is
        not an address, each listed with the reason; a file that is not a report is listed
        with the reason and the others are still published. The events are those `POST /mail`
        of the gateway publishes for the same mail.
        """
        from datetime import datetime, timezone

        from gateways.classify import Classifier, RulesError
        from gateways.common import Rejected
        from gateways.mail import ingest
        from projections.normalize import AddressNormalizer
        from schemas.events import encode_event

        if broker is None and not dry_run:
            raise click.UsageError("ingest-mail needs --broker (or KAFKA_BOOTSTRAP), or --dry-run")
        try:
            classifier = Classifier(override=rules)
        except RulesError as exc:
            raise click.UsageError(str(exc)) from None
        normalise = AddressNormalizer(region)
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
        outcome = print_or_publish(lines, dry_run, _settings(broker, partitions, topic_prefix, region=region), region)
        if outcome is not None:
            click.echo(f"{outcome}; {refused} files refused", err=True)

    group.add_command(gateway)
    group.add_command(ingest_mail)
    from bounceback.commands.ingest import command as ingest_receipts  # its own module: SMS receipts

    group.add_command(ingest_receipts(pipeline_options, _settings))
