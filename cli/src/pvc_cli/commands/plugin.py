"""``pvc plugin``: what is installed here and what each node has loaded."""

from __future__ import annotations

from typing import Any

import click

from pvc_cli.connections import NoConnection
from pvc_cli.context import CliContext
from pvc_cli.output import emit, format_option, table


@click.group()
def plugin() -> None:
    """PVC plugins."""


@plugin.command("list")
@click.option("--local", is_flag=True, help="Only what is installed here; do not ask the cluster.")
@format_option
@click.pass_obj
def list_plugins(obj: CliContext, local: bool, output_format: str) -> None:
    """Installed plugins (here) and the plugins each node loaded, with versions and hooks."""
    from pvc_core.plugins.manager import BUILTINS, installed_plugins

    rows: dict[str, dict[str, Any]] = {}
    for name in BUILTINS:
        rows[name] = {"name": name, "installed": "builtin", "version": "", "hooks": [], "nodes": []}
    for name, found in installed_plugins().items():
        rows[name] = {"name": name, "installed": found.distribution, "version": found.version, "hooks": [], "nodes": []}
    if not local:
        try:
            with obj.cluster() as client:
                by_node = client.plugins_by_node()
        except NoConnection:
            # what is installed here is still worth showing; the note goes to stderr so -o json stays parseable
            click.echo("pvc: note: no connection chosen, so the nodes were not asked what they loaded", err=True)
            by_node = {}
        for name, loaded in by_node.items():
            entry = rows.setdefault(name, {"name": name, "installed": "", "version": "", "hooks": [], "nodes": []})
            entry["version"] = entry["version"] or loaded["version"]
            entry["hooks"] = loaded["hooks"]
            entry["nodes"] = sorted(loaded["nodes"])
    data = [rows[name] for name in sorted(rows)]

    def pretty(items: list[dict[str, Any]]) -> str:
        return table(
            ["PLUGIN", "VERSION", "INSTALLED", "ENABLED ON", "HOOKS"],
            [
                [
                    i["name"],
                    i["version"] or "-",
                    i["installed"] or "(not here)",
                    ",".join(i["nodes"]) or "-",
                    ",".join(h.removeprefix("pvc_") for h in i["hooks"]) or "-",
                ]
                for i in items
            ],
        )

    emit(data, output_format, pretty)
