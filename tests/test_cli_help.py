"""`--help` of every command: each option says what it does, and each option that can be set
from the environment names its variable."""

from __future__ import annotations

import click
from click.testing import CliRunner

from bounceback.cli import main


def _options():
    ctx = click.Context(main)
    for name in main.list_commands(ctx):
        command = main.get_command(ctx, name)
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                yield name, command, param


def test_every_option_of_every_command_has_help_text():
    missing = [f"{name} {param.opts[0]}" for name, _, param in _options() if not (param.help or "").strip()]
    assert missing == []


def test_every_environment_variable_is_shown_in_help():
    for name, _, param in _options():
        if not param.envvar:
            continue
        shown = CliRunner().invoke(main, [name, "--help"], terminal_width=1000, max_content_width=1000).output
        assert f"env var: {param.envvar}" in shown, (name, param.opts)


def test_publish_help_names_the_variables_a_user_looks_for():
    shown = CliRunner().invoke(main, ["publish", "--help"], terminal_width=1000, max_content_width=1000).output
    for variable in ("KAFKA_BOOTSTRAP", "BOUNCEBACK_PARTITIONS", "BOUNCEBACK_TOPIC_PREFIX",
                     "BOUNCEBACK_CONNECT_TIMEOUT", "BOUNCEBACK_DEBUG"):
        assert f"env var: {variable}" in shown
    assert "Region for phone numbers written without a country code." in shown
