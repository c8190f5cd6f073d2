"""The ``pvc testplugin`` command (``pvc.cli: testplugin``). Imports only click, like every pvc command."""

from __future__ import annotations

import click


@click.group()
def testplugin() -> None:
    """Commands of the test plugin (PVC's own tests use them)."""


@testplugin.command()
def hello() -> None:
    """Print a fixed line; needs no cluster connection."""
    click.echo("hello from testplugin")
