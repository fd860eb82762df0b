"""The ``llmpulse`` command line: :mod:`.main` holds the root group and the small
commands, each other module one group of commands (alerts, drift, retrain, ...)."""

from llmpulse.cli.main import cli, main

__all__ = ["cli", "main"]
