"""Options and option parsing the commands share, and the settings they make of them."""

from __future__ import annotations

import functools
import os
from datetime import timedelta, timezone

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


class Duration(click.ParamType):
    """A span of time written as a number and a unit: 30d, 72h, 90m."""

    name = "duration"
    _UNITS = {"d": "days", "h": "hours", "m": "minutes"}

    def convert(self, value, param, ctx):
        if isinstance(value, timedelta):
            return value
        text = str(value).strip().lower()
        unit = self._UNITS.get(text[-1:])
        try:
            amount = float(text[:-1])
        except ValueError:
            amount = None
        if unit is None or amount is None or amount <= 0:
            self.fail(f"{value!r} is not a duration: a number and d, h or m, e.g. 30d or 72h", param, ctx)
        return timedelta(**{unit: amount})


duration = Duration()


def _all(options):
    def decorate(f):
        for option in reversed(options):
            f = option(f)
        return f

    return decorate


region_option = click.option("--default-region", "region", default="SE", show_default=True,
                             help="Region for phone numbers written without a country code.")

_policy_options = _all([
    click.option("--soft-bounce-limit", default=10, show_default=True, type=click.IntRange(min=1),
                 help="Consecutive email soft bounces that block an address."),
    region_option,
    click.option("--lateness-horizon", envvar="BOUNCEBACK_LATENESS_HORIZON", show_envvar=True, default="30d",
                 show_default=True, type=duration,
                 help="A delivery report this far before the clock (the latest tick) is refused as too late, "
                      "and what lies further behind is forgotten (RULES.md §7). Use the same value for the "
                      "pipeline and for a replay of its log; at least 72h. E.g. 30d, 72h."),
])


def policy_options(f):
    """The rules' settings, handed to the command as one `policy`."""

    @functools.wraps(f)
    def with_policy(*args, soft_bounce_limit: int, region: str, lateness_horizon, **kwargs):
        try:
            policy = Policy(soft_bounce_limit=soft_bounce_limit, default_region=region,
                            lateness_horizon=lateness_horizon)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--lateness-horizon") from None
        return f(*args, policy=policy, **kwargs)

    return _policy_options(with_policy)

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
    click.option("--standby-replicas", envvar="BOUNCEBACK_STANDBY_REPLICAS", default=0, show_default=True,
                 type=click.IntRange(0), help="Warm copies of each table partition kept by other workers: "
                 "a worker taking over a partition then skips restoring it from its changelog, but every "
                 "worker applies the changelogs it stands by for, record by record (two workers ran 42% "
                 "slower with one; docs/pipeline.md)."),
    click.option("--operator-token", envvar="BOUNCEBACK_OPERATOR_TOKEN", default=None, show_envvar=True,
                 help="Bearer token of the operator API (unblock, bounce-list upload); unset: that API is off. "
                      "Prefer the environment variable: a command line is visible to every local user."),
])


def datadir_option(default: str | None, default_text: str):
    return click.option("--datadir", envvar="BOUNCEBACK_DATADIR", default=default, show_default=default_text,
                        type=click.Path(file_okay=False), help="Where the worker keeps its RocksDB tables.")


def settings(broker, partitions, topic_prefix, region="SE", policy: Policy | None = None, **worker) -> Settings:
    return Settings(broker=broker, partitions=partitions, topics=Topics(topic_prefix),
                    policy=policy or Policy(default_region=region),
                    session_timeout=float(os.environ.get("BOUNCEBACK_SESSION_TIMEOUT", 6.0)), **worker)
