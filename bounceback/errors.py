"""What a user sees when a command fails: one line naming what is wrong, exit status 1, and
the traceback only with --debug.

`CommandGroup` is the click group of the command line. Every command added to it gets the
same treatment in one place, so a new command needs nothing of its own:
- `--debug` (or BOUNCEBACK_DEBUG=1): let an error end in its traceback;
- `--connect-timeout` on a command with `--broker`: before the command's own work, the broker
  is reached (retrying for up to that many seconds, so a broker that is still starting is
  waited for), unless the command is a `--dry-run`; an unreachable broker is one line naming
  its address and the time waited, and nothing is done;
- an exception from the command becomes one line: a file error names the file, a Kafka error
  the broker;
- a path argument or option that click refuses (a missing file, a directory where a file is
  wanted) is one line with exit status 1 rather than a usage error, because the command
  line was right and the file is what is wrong;
- every option read from an environment variable shows it in `--help`.

Files are checked by click when the command line is parsed, so before any connection.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time

import click

DEFAULT_CONNECT_TIMEOUT = 10.0


class BrokerUnreachable(click.ClickException):
    def __init__(self, bootstrap: str, timeout: float, reason: str | None) -> None:
        detail = f" ({reason})" if reason else ""
        super().__init__(f"the broker at {bootstrap} could not be reached within {timeout:g} seconds{detail}")


class _LastProblem(logging.Handler):
    """Keeps the last warning aiokafka logged: why a connection failed (refused, unknown host),
    which its exception does not say."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.message: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        self.message = message.split('": ', 1)[-1]  # 'Unable connect to "host:port": [Errno 111] ...'


async def reach_broker(bootstrap: str, timeout: float) -> None:
    """Return once a metadata request to the broker has been answered; try again every half
    second until `timeout` seconds have passed, then raise BrokerUnreachable."""
    # start-up time: aiokafka is imported only by a command that reaches a broker
    from aiokafka.client import AIOKafkaClient
    from aiokafka.errors import KafkaError

    problem = _LastProblem()
    logger = logging.getLogger("aiokafka")
    logger.addHandler(problem)
    deadline = time.monotonic() + timeout
    try:
        while True:
            remaining = deadline - time.monotonic()
            client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=max(1000, int(remaining * 1000)))
            try:
                async with asyncio.timeout(max(remaining, 0.1)):
                    await client.bootstrap()
                return
            except (KafkaError, OSError, TimeoutError):
                pass
            finally:
                await client.close()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrokerUnreachable(bootstrap, timeout, problem.message)
            await asyncio.sleep(min(0.5, remaining))
    finally:
        logger.removeHandler(problem)


def _kafka_message(exc: BaseException) -> str:
    # aiokafka's errors already start with their class name
    text = str(exc)
    return text if text.startswith(type(exc).__name__) else f"{type(exc).__name__}: {text}"


def _one_line(exc: Exception, broker: str | None) -> str:
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or exc}"
    if type(exc).__module__.startswith("aiokafka"):
        return f"the broker at {broker} failed: {_kafka_message(exc)}"
    return f"{type(exc).__name__}: {exc} (--debug shows the traceback)"


def _guard(command: click.Command) -> None:
    if getattr(command.callback, "guarded", False):
        return
    for param in command.params:
        if isinstance(param, click.Option) and param.envvar:
            param.show_envvar = True
    takes_broker = any(param.name == "broker" for param in command.params)
    command.params.append(click.Option(
        ["--debug"], is_flag=True, envvar="BOUNCEBACK_DEBUG", show_envvar=True,
        help="On an error, show its traceback instead of one line."))
    if takes_broker:
        command.params.append(click.Option(
            ["--connect-timeout"], type=click.FloatRange(min=0), default=DEFAULT_CONNECT_TIMEOUT,
            show_default=True, envvar="BOUNCEBACK_CONNECT_TIMEOUT", show_envvar=True, metavar="SECONDS",
            help="How long to keep trying to reach the broker before giving up."))
    callback = command.callback

    @functools.wraps(callback)
    def guarded(*args, debug: bool = False, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT, **kwargs):
        broker = kwargs.get("broker")
        if not debug:
            # aiokafka logs each failed connection attempt; the one line below says it all
            logging.getLogger("aiokafka").addHandler(logging.NullHandler())
        try:
            if takes_broker and broker and not kwargs.get("dry_run"):
                asyncio.run(reach_broker(broker, connect_timeout))
            return callback(*args, **kwargs)
        except (click.ClickException, click.exceptions.Exit, click.Abort, SystemExit, KeyboardInterrupt):
            raise
        except Exception as exc:
            if debug:
                raise
            raise click.ClickException(_one_line(exc, broker)) from None

    guarded.guarded = True
    command.callback = guarded


class CommandGroup(click.Group):
    """The command line's group: see the module's docstring."""

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        _guard(cmd)
        super().add_command(cmd, name)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except click.BadParameter as exc:
            if isinstance(exc.param.type if exc.param else None, click.Path):
                raise click.ClickException(exc.format_message()) from None
            raise
