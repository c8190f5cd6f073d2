"""The ``pvc testplugin`` command (``pvc.cli: testplugin``). Imports only click, like every pvc command.

``status`` and ``pause`` are docs/plugins.md's "CLI contributions" example as written there (with
``testplugin`` for ``acme``): tests run them over ZooKeeper and over the API and compare.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from pvc_cli.context import CliContext


@click.group()
def testplugin() -> None:
    """Commands of the test plugin (PVC's own tests use them)."""


@testplugin.command()
def hello() -> None:
    """Print a fixed line; needs no cluster connection."""
    click.echo("hello from testplugin")


@testplugin.command()
@click.pass_obj
def status(obj: CliContext) -> None:
    """Show the test plugin's status."""
    import json

    with obj.cluster() as cluster:  # a pvc_core.client.ClusterClient, closed afterwards
        click.echo(json.dumps(cluster.plugin_data("testplugin").get("status")))


@testplugin.command()
@click.argument("reason")
@click.pass_obj
def pause(obj: CliContext, reason: str) -> None:
    """Pause the test plugin, saying why."""
    with obj.cluster() as cluster:
        data = cluster.plugin_data("testplugin")
        data.set("status", {"paused": True, "reason": reason})
        click.echo(f"paused; keys: {', '.join(data.children())}")
