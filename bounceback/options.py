"""Options and option parsing the commands share, and the settings they make of them."""

from __future__ import annotations

import os
from datetime import timezone

import click
import msgspec

from projections.policy import Policy
from schemas.events import Timestamp
from streams.settings import Settings, Topics


def timestamp(ctx, param, value):
    """A click callback: an RFC 3339 timestamp with an offset, as UTC; None when not given."""
    if value is None:
        return None
    try:
        return msgspec.json.decode(msgspec.json.encode(value), type=Timestamp).astimezone(timezone.utc)
    except msgspec.ValidationError:
        raise click.BadParameter(f"{value!r} is not an RFC 3339 timestamp, e.g. 2026-03-04T10:00:00Z") from None


def writable_file(ctx, param, value):
    """A click callback: a file the command can create or overwrite, checked before any work
    (its directory exists and is writable)."""
    if value is None:
        return None
    directory = os.path.dirname(os.path.abspath(value))
    if not os.path.isdir(directory):
        raise click.BadParameter(f"cannot write {value}: no directory {directory}")
    if not os.access(directory, os.W_OK) or (os.path.exists(value) and not os.access(value, os.W_OK)):
        raise click.BadParameter(f"cannot write {value}: permission denied")
    return value


def _all(options):
    def decorate(f):
        for option in reversed(options):
            f = option(f)
        return f

    return decorate


region_option = click.option("--default-region", "region", default="SE", show_default=True,
                             help="Region for phone numbers written without a country code.")

policy_options = _all([
    click.option("--soft-bounce-limit", default=10, show_default=True, type=click.IntRange(min=1),
                 help="Consecutive email soft bounces that block an address."),
    region_option,
])

pipeline_options = _all([
    click.option("--broker", envvar="KAFKA_BOOTSTRAP", default=None,
                 help="Kafka bootstrap servers (host:port)."),
    click.option("--partitions", envvar="BOUNCEBACK_PARTITIONS", default=4, show_default=True, type=click.IntRange(1),
                 help="Partitions of the pipeline's topics and tables."),
    click.option("--topic-prefix", envvar="BOUNCEBACK_TOPIC_PREFIX", default="bounceback", show_default=True,
                 help="Prefix of every topic name (e.g. bounceback.events)."),
])

worker_options = _all([
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
])


def datadir_option(default: str | None, default_text: str):
    return click.option("--datadir", envvar="BOUNCEBACK_DATADIR", default=default, show_default=default_text,
                        type=click.Path(file_okay=False), help="Where the worker keeps its RocksDB tables.")


def policy(soft_bounce_limit: int, region: str) -> Policy:
    return Policy(soft_bounce_limit=soft_bounce_limit, default_region=region)


def settings(broker, partitions, topic_prefix, soft_bounce_limit=10, region="SE", **worker) -> Settings:
    return Settings(broker=broker, partitions=partitions, topics=Topics(topic_prefix),
                    policy=policy(soft_bounce_limit, region),
                    session_timeout=float(os.environ.get("BOUNCEBACK_SESSION_TIMEOUT", 6.0)), **worker)
