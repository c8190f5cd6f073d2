"""``pvc node``: list and inspect nodes, hand the primary coordinator role over."""

from __future__ import annotations

import time
from typing import Any

import click

from pvc_cli.completion import complete_node
from pvc_cli.context import CliContext
from pvc_cli.errors import CliError
from pvc_cli.output import emit, format_option, mapping, table


@click.group()
def node() -> None:
    """Nodes: their daemon state, coordinator role and resources."""


def _memory(resources: dict[str, Any]) -> str:
    total, free = resources.get("memory_total_mib"), resources.get("memory_free_mib")
    if total is None:
        return "-"
    provisioned = resources.get("memory_provisioned_mib")
    free = "-" if free is None else free  # a fenced node's record has no free memory: its power is off
    return f"{free}/{total} MiB free" + (f", {provisioned} to VMs" if provisioned is not None else "")


@node.command("list")
@format_option
@click.pass_obj
def list_nodes(obj: CliContext, output_format: str) -> None:
    """Every node with its daemon state, coordinator state and resources."""
    with obj.cluster() as client:
        views = client.nodes()

    def pretty(data: list[dict[str, Any]]) -> str:
        rows = [
            [
                n["name"],
                n["daemon_state"]
                + ("" if n["alive"] or n["daemon_state"] in ("stop", "dead", "fenced") else " (no session)"),
                n["coordinator_state"],
                n["domain_state"],
                n["resources"].get("cpus", "-"),
                _memory(n["resources"]),
                n["resources"].get("load", "-"),
                n["pvc_version"],
            ]
            for n in data
        ]
        return table(["NODE", "DAEMON", "COORDINATOR", "DOMAINS", "CPUS", "MEMORY", "LOAD", "VERSION"], rows)

    emit([v.to_dict() for v in views], output_format, pretty)


@node.command()
@click.argument("name", shell_complete=complete_node)
@format_option
@click.pass_obj
def info(obj: CliContext, name: str, output_format: str) -> None:
    """One node in detail."""
    with obj.cluster() as client:
        view = client.node(name)

    def pretty(n: dict[str, Any]) -> str:
        plugins = ", ".join(f"{p['name']} {p['version']}" for p in n["plugins"]) or "-"
        drivers = ", ".join(f"{role}={name}" for role, name in sorted(n["drivers"].items())) or "-"
        changed = (
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(n["state_changed_at"])) if n["state_changed_at"] else "-"
        )
        return mapping(
            [
                ("name", n["name"]),
                ("daemon state", f"{n['daemon_state']} since {changed} ({n['state_reason'] or '-'})"),
                ("session", "alive" if n["alive"] else "none"),
                ("coordinator", f"{n['coordinator_state']}" + (" (primary)" if n["primary"] else "")),
                ("cpus", n["resources"].get("cpus", "-")),
                ("memory", _memory(n["resources"])),
                ("load", n["resources"].get("load", "-")),
                ("vms", n["resources"].get("vms", "-")),
                ("bmc", n["resources"].get("bmc", "-")),
                ("vcpus to VMs", n["resources"].get("vcpus_provisioned", "-")),
                (
                    "domain state",
                    n["domain_state"] + (f" ({n['domain_state_reason']})" if n["domain_state_reason"] else ""),
                ),
                ("pvc version", n["pvc_version"]),
                ("plugins", plugins),
                ("drivers", drivers),
            ]
        )

    emit(view.to_dict(), output_format, pretty)


def _handover(obj: CliContext, name: str, wait: bool, timeout: float, primary: bool) -> None:
    with obj.cluster() as client:
        started = time.monotonic()
        if primary:
            before = client.primary()
            if before == name:
                click.echo(f"node {name} is already primary")
                return
            client.request_primary(name, wait=False)
            goal = f"node {name} to become primary"
        else:
            if client.primary() != name:
                click.echo(f"node {name} is not primary; nothing to do")
                return
            client.request_secondary(name, wait=False)
            goal = f"another coordinator to take over from {name}"
        if not wait:
            click.echo(f"requested: {goal}")
            return
        click.echo(f"waiting for {goal}...", err=True)
        if primary:
            client.wait_for_primary(name, timeout)
        else:
            client.wait_for_other_primary(name, timeout)
        click.echo(f"primary is now {client.primary()} ({time.monotonic() - started:.1f}s)")


@node.command()
@click.argument("name", shell_complete=complete_node)
@click.option("--wait", is_flag=True, help="Return once the hand-over is done.")
@click.option("--timeout", default=30.0, show_default=True, help="Seconds --wait waits.")
@click.pass_obj
def primary(obj: CliContext, name: str, wait: bool, timeout: float) -> None:
    """Make NAME the primary coordinator (the current primary hands over)."""
    _handover(obj, name, wait, timeout, primary=True)


@node.command()
@click.argument("name", shell_complete=complete_node)
@click.option("--wait", is_flag=True, help="Return once another coordinator has taken over.")
@click.option("--timeout", default=30.0, show_default=True, help="Seconds --wait waits.")
@click.pass_obj
def secondary(obj: CliContext, name: str, wait: bool, timeout: float) -> None:
    """Make NAME, the primary coordinator, step back; another coordinator takes over."""
    _handover(obj, name, wait, timeout, primary=False)


def _progress(line: str) -> None:
    click.echo(f"  {time.strftime('%H:%M:%S')} {line}", err=True)


@node.command()
@click.argument("name", shell_complete=complete_node)
@click.option("--wait", is_flag=True, help="Return once the node is flushed; show progress.")
@click.option("--timeout", default=600.0, show_default=True, help="Seconds --wait waits.")
@click.pass_obj
def flush(obj: CliContext, name: str, wait: bool, timeout: float) -> None:
    """Move every VM off NAME and leave it flushed (for maintenance)."""
    with obj.cluster() as client:
        view = client.flush(name, wait=wait, timeout=timeout, progress=_progress)
    reason = view.record.domain_state_reason
    click.echo(f"{name}: {view.record.domain_state}" + (f" ({reason})" if reason else ""))


@node.command()
@click.argument("name", shell_complete=complete_node)
@click.option("--wait", is_flag=True, help="Return once the node is ready; show progress.")
@click.option("--timeout", default=600.0, show_default=True, help="Seconds --wait waits.")
@click.pass_obj
def ready(obj: CliContext, name: str, wait: bool, timeout: float) -> None:
    """Bring NAME back from a flush: its VMs return, its autostart VMs start."""
    with obj.cluster() as client:
        view = client.ready(name, wait=wait, timeout=timeout, progress=_progress)
    click.echo(f"{name}: {view.record.domain_state}")


@node.command()
@click.argument("name", shell_complete=complete_node)
@click.option("--yes", is_flag=True, help="Confirm: the node is powered off through its BMC.")
@click.option("--wait", is_flag=True, help="Return once the node is fenced and its VMs are being recovered.")
@click.option("--timeout", default=120.0, show_default=True, help="Seconds --wait waits.")
@click.pass_obj
def fence(obj: CliContext, name: str, yes: bool, wait: bool, timeout: float) -> None:
    """Fence NAME now: power it off through its BMC (confirmed) and start its VMs elsewhere."""
    if not yes:
        raise CliError(f"fencing powers {name} off at once; add --yes to confirm")
    with obj.cluster() as client:
        view = client.fence(name, wait=wait, timeout=timeout)
    click.echo(f"{name}: {view.daemon_state}" if wait else f"{name}: fence requested")
