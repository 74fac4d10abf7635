"""The `bounceback` command line: the group, and where each of its commands is.

Every command is a click command in a module of bounceback/commands/, registered here
by name. Its module is imported when the command is looked up (to run it, or to list
them all in `--help`): between them the modules import faust, aiohttp, cryptography and
rocksdict, most of a second that `bounceback replay` or `explain` should not wait for.
"""

from __future__ import annotations

import importlib

import click

from bounceback.errors import CommandGroup

COMMANDS = {
    "replay": "bounceback.commands.replay:replay",
    "explain": "bounceback.commands.replay:explain",
    "run": "bounceback.commands.worker:run",
    "worker": "bounceback.commands.worker:worker",
    "create-topics": "bounceback.commands.topics:create_topics",
    "publish": "bounceback.commands.topics:publish",
    "export-log": "bounceback.commands.topics:export_log",
    "demo": "bounceback.commands.demo:demo",
    "gateway": "bounceback.commands.gateway:gateway",
    "ingest-mail": "bounceback.commands.ingest:ingest_mail",
    "ingest-receipts": "bounceback.commands.ingest:ingest_receipts",
    "import-bounce-list": "bounceback.commands.bounce_list:import_bounce_list",
    "plan-sendout": "bounceback.commands.sendout:plan_sendout",
}


class Commands(CommandGroup):
    """The group, loading each command from COMMANDS when it is first looked up."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in COMMANDS:
            module, attribute = COMMANDS[name].split(":")
            self.add_command(getattr(importlib.import_module(module), attribute), name)
        return self.commands.get(name)


@click.group(cls=Commands, context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """bounceback: bounce and suppression state for email and SMS, from an event log.

    Delivery reports, unsubscribes, bounce lists and unblocks go in; per-address
    suppression records and contact cards come out. See README.md for the pipeline.
    """


if __name__ == "__main__":
    main()
