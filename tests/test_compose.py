"""docker-compose.yml parses, and every bounceback command it runs exists with those options."""

from __future__ import annotations

from pathlib import Path

import click
import yaml

from bounceback.cli import main

ROOT = Path(__file__).resolve().parent.parent


def test_every_compose_command_is_a_valid_bounceback_command():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"kafka", "worker-1", "worker-2"} <= services.keys()
    assert services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"] == "broker,controller"
    checked = 0
    for name, service in services.items():
        if "build" not in service:
            continue
        args = service["command"]
        command = main.get_command(click.Context(main), args[0])
        assert command is not None, f"{name}: no bounceback command {args[0]!r}"
        ctx = command.make_context(args[0], list(args[1:]))  # raises on an unknown or bad option
        assert isinstance(ctx, click.Context)
        checked += 1
    assert checked == 4
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert 'ENTRYPOINT ["bounceback"]' in dockerfile
