"""The ``pvc template`` command, registered as the ``pvc.cli`` entry point ``template``.

``pvc`` lists every ``pvc.cli`` entry point and imports a command's module only when it is run (or when
``pvc --help`` shows it). Keep this module light: import only click at the top, and import anything
heavier (pvc_core's client, ZooKeeper) inside the function that needs it.
"""

from __future__ import annotations

import click


@click.group()
def template() -> None:
    """Commands of the template plugin (copy and rename them)."""


@template.command()
@click.argument("name", default="world")
@click.option("--greeting", default="hello", show_default=True, help="The word to greet with.")
def hello(name: str, greeting: str) -> None:
    """Print a greeting to NAME; needs no cluster connection."""
    click.echo(f"{greeting}, {name}!")


# A command that talks to the cluster gets the connection from the root command's context object (import
# its type only for the type checker, so that this module stays light):
#
#     if TYPE_CHECKING:
#         from pvc_cli.context import CliContext
#
#     @template.command()
#     @click.pass_obj
#     def status(obj: CliContext) -> None:
#         with obj.cluster() as cluster:  # connects, and closes when the command is done
#             ...
