"""The ``pvc`` root command: builtin groups and plugin-contributed commands, all loaded lazily.

``pvc --help`` imports no ZooKeeper client: builtin groups live in their own modules and are imported when
named (or listed), plugin commands come from the ``pvc.cli`` entry-point group. A plugin command that fails
to import becomes a "broken" command that says why; the rest of ``pvc`` works. An entry point named
``GROUP.NAME`` adds the command ``NAME`` to the group ``GROUP`` (``network.dns``: ``pvc network dns``),
loaded when that group is.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points
from typing import Any

import click

from pvc_cli.context import CliContext
from pvc_cli.logs import configure_cli_logging

CLI_GROUP = "pvc.cli"

BUILTIN_COMMANDS: dict[str, str] = {
    "api": "pvc_cli.commands.api:api",
    "cluster": "pvc_cli.commands.cluster:cluster",
    "connection": "pvc_cli.commands.connection:connection",
    "network": "pvc_cli.commands.network:network",
    "node": "pvc_cli.commands.node:node",
    "plugin": "pvc_cli.commands.plugin:plugin",
    "vm": "pvc_cli.commands.vm:vm",
}


def broken_command(name: str, source: str, reason: str) -> click.Command:
    """A stand-in for a plugin command that could not be imported."""

    @click.command(
        name=name,
        help=f"(broken) from {source}: {reason}",
        short_help=f"(broken: {reason})"[:80],
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True, "help_option_names": []},
    )
    @click.pass_context
    def broken(ctx: click.Context) -> None:
        raise click.ClickException(f"command '{name}' from {source} is broken: {reason}")

    return broken


def _load(ep: Any, name: str) -> click.Command:
    source = ep.dist.name if ep.dist is not None else ep.value
    try:
        loaded = ep.load()
    except Exception as exc:  # noqa: BLE001 - any import failure makes a broken command
        return broken_command(name, source, f"{type(exc).__name__}: {exc}")
    if not isinstance(loaded, click.Command):
        return broken_command(name, source, f"{ep.value} is not a click command")
    return loaded


class LazyGroup(click.Group):
    def _plugin_entry_points(self) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for ep in entry_points(group=CLI_GROUP):
            if ep.name not in BUILTIN_COMMANDS:
                found[ep.name] = ep
        return found

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(BUILTIN_COMMANDS) | {n for n in self._plugin_entry_points() if "." not in n})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if "." in cmd_name:
            return None
        found = self._plugin_entry_points()
        if cmd_name in BUILTIN_COMMANDS:
            module, _, attr = BUILTIN_COMMANDS[cmd_name].partition(":")
            command: click.Command = getattr(importlib.import_module(module), attr)
        elif cmd_name in found:
            command = _load(found[cmd_name], cmd_name)
        else:
            return None
        if isinstance(command, click.Group):
            for name, ep in found.items():
                parent, _, sub = name.partition(".")
                if parent == cmd_name and sub and sub not in command.commands:
                    command.add_command(_load(ep, sub), sub)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "-c",
    "--connection",
    envvar="PVC_CONNECTION",
    metavar="NAME|HOSTS",
    help="A stored connection's name, or ZooKeeper host:port[,host:port...] (env PVC_CONNECTION).",
)
@click.option(
    "--debug",
    is_flag=True,
    envvar="PVC_DEBUG",
    help="Show the libraries' log lines (ZooKeeper client, PVC core) on stderr (env PVC_DEBUG=1).",
)
@click.version_option(package_name="pvc-cli", prog_name="pvc")
@click.pass_context
def cli(ctx: click.Context, connection: str | None, debug: bool) -> None:
    """PVC, the Parallel Virtual Cluster: manage nodes, coordinators and plugins.

    Shell completion: eval "$(_PVC_COMPLETE=bash_source pvc)" (zsh_source, fish_source).
    """
    configure_cli_logging(debug)
    ctx.obj = CliContext(connection)


def main(argv: Sequence[str] | None = None) -> None:
    """Run ``pvc``; every failure ends as one line on stderr and a non-zero exit status."""
    from pvc_core.errors import PvcError

    try:
        cli.main(args=list(argv) if argv is not None else None, prog_name="pvc", standalone_mode=False)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.UsageError as exc:
        exc.show()  # usage errors keep click's hint line (exit 2)
        sys.exit(exc.exit_code)
    except click.ClickException as exc:
        click.echo(f"pvc: error: {exc.format_message()}", err=True)
        sys.exit(exc.exit_code)
    except click.Abort:
        click.echo("pvc: aborted", err=True)
        sys.exit(1)
    except PvcError as exc:  # the exit status says what kind of error (pvc_core.errors; docs/cli.md)
        click.echo(f"pvc: error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("pvc: interrupted", err=True)
        sys.exit(130)


if __name__ == "__main__":
    main()
