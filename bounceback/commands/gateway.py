"""`bounceback gateway`: the HTTP service of gateways/service/, publishing through the one
publisher (ingress/) on a producer of its own."""

from __future__ import annotations

import asyncio
import logging
import signal

import click

from bounceback.options import pipeline_options, region_option, settings
from gateways.classify import RulesError
from gateways.config import load
from gateways.service.app import Gateway, serve
from ingress.kafka import KafkaProducer
from ingress.publisher import InboundPublisher
from partitions.routing import Router
from projections.normalise import AddressNormaliser
from streams.admin import ensure_topics


@click.command()
@click.option("--config", "config_path", envvar="BOUNCEBACK_GATEWAY_CONFIG", type=click.Path(dir_okay=False),
              help="The gateway's TOML file: provider secrets, max_body_bytes, rules (README: gateways).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0 in a container).")
@click.option("--port", default=8025, show_default=True, type=int, help="Port to listen on.")
@pipeline_options
@region_option
@click.option("--loglevel", default="info", show_default=True, type=click.Choice(["debug", "info", "warning", "error"]),
              help="Least severe log messages shown.")
def gateway(config_path, host, port, broker, partitions, topic_prefix, region, loglevel):
    """Receive provider webhooks (SES via SNS, SendGrid, Mailgun, Postmark; Twilio, Sinch, Vonage,
    Infobip), SMPP delivery receipts, contract events and bounce mails over HTTP, and publish
    canonical events to the inbound topic."""
    logging.basicConfig(level=loglevel.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if broker is None:
        raise click.UsageError("gateway needs --broker (or KAFKA_BOOTSTRAP)")
    try:
        config = load(config_path)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    pipeline = settings(broker, partitions, topic_prefix, region=region)
    producer = KafkaProducer(broker)
    publisher = InboundPublisher(producer.send, pipeline.topics.inbound, Router(partitions, AddressNormaliser(region)),
                                 pipeline.topics.dead_letters)
    try:
        gw = Gateway(config, publisher)
    except (ValueError, RulesError) as exc:
        raise click.UsageError(str(exc)) from None
    for route in gw.unprotected():
        logging.getLogger("bounceback.gateway").warning("%s accepts unsigned requests: no secret configured", route)

    async def main():
        await ensure_topics(pipeline)
        await producer.start()
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, task.cancel)
        try:
            await serve(gw, host, port, on_ready=lambda: click.echo(
                f"gateway on http://{host}:{port} publishing to {pipeline.topics.inbound}", err=True))
        except asyncio.CancelledError:
            pass
        finally:
            await producer.stop()

    asyncio.run(main())
