"""``pvc api key add|list|remove``: the API keys every pvcapid accepts, each with a name and a role
(``read``, ``operator``, ``admin``). Over ZooKeeper, or over the API with an admin key."""

from __future__ import annotations

import getpass
import socket
import sys
import time

import click

from pvc_cli.context import CliContext
from pvc_cli.errors import CliError
from pvc_cli.output import emit, format_option, table


@click.group()
def api() -> None:
    """The HTTP API: its keys."""


@api.group()
def key() -> None:
    """API keys: a name and a role each (read: GET only; operator: also VM and node actions; admin: all)."""


@key.command("list")
@format_option
@click.pass_obj
def key_list(obj: CliContext, output_format: str) -> None:
    """Every key made with 'pvc api key add': name, role, when and by whom (never the key)."""
    with obj.cluster() as client:
        keys = [k.to_dict() for k in client.api_keys.list()]

    def pretty(rows: list[dict]) -> str:  # type: ignore[type-arg]
        return table(
            ["NAME", "ROLE", "MADE", "BY"],
            [
                [
                    k["name"],
                    k["role"],
                    time.strftime("%Y-%m-%d %H:%M", time.localtime(k["created_at"])),
                    k["created_by"] or "-",
                ]
                for k in rows
            ],
        )

    emit(keys, output_format, pretty)


@key.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(["read", "operator", "admin"]), required=True, help="What the key may do.")
@click.pass_obj
def key_add(obj: CliContext, name: str, role: str) -> None:
    """Make a key NAME with --role; prints the key once (only its hash is kept)."""
    with obj.cluster() as client:
        made = client.api_keys.add(name, role, by=f"{getpass.getuser()}@{socket.gethostname()}")
    click.echo(made)
    if sys.stdout.isatty():
        click.echo(
            f"(key '{name}', role {role}: shown this once; pvc connection add NAME --api URL --key-file FILE)", err=True
        )


@key.command("remove")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Confirm without a prompt.")
@click.pass_obj
def key_remove(obj: CliContext, name: str, yes: bool) -> None:
    """Remove key NAME: every pvcapid refuses it within 5 seconds."""
    if not yes:
        if not sys.stdin.isatty():
            raise CliError(f"removing API key '{name}' locks out whoever holds it; add --yes to confirm")
        click.confirm(f"Remove API key '{name}'?", abort=True)
    with obj.cluster() as client:
        client.api_keys.remove(name)
    click.echo(f"API key '{name}' removed")
