"""``pvc dns`` (the cluster DNS: status, sync) and ``pvc network dns`` (what a network publishes).

Light at import (click only): ``pvc --help`` imports it. Every command asks the primary (the plugin's
actions), over ZooKeeper or the API alike.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from pvc_cli.context import CliContext

PLUGIN = "dns-powerdns"


def _call(obj: CliContext, action: str, timeout: float = 30.0, **args: Any) -> Any:
    with obj.cluster() as client:
        return client.plugin_call(PLUGIN, action, args, timeout=timeout)


def _ago(at: float) -> str:
    if not at:
        return "never"
    return f"{max(0.0, time.time() - at):.0f}s ago"


@click.group()
def dns() -> None:
    """The cluster DNS (PowerDNS): status and sync."""


@dns.command()
@click.option("-o", "--format", "output_format", type=click.Choice(["pretty", "json"]), default="pretty")
@click.pass_obj
def status(obj: CliContext, output_format: str) -> None:
    """Whether PowerDNS answers, the zones, the last sync, and the drift found and repaired."""
    from pvc_cli.output import emit, mapping

    def pretty(s: dict[str, Any]) -> str:
        return mapping(
            list(
                {
                    "server": f"{s.get('server')} ({'answers' if s.get('answers') else 'does not answer'})",
                    "primary": s.get("primary", "-"),
                    "address": s.get("address") or "-",
                    "zones": ", ".join(s.get("zones", [])) or "-",
                    "records": s.get("records", 0),
                    "last sync": f"{_ago(float(s.get('last_sync', 0)))} ({s.get('last_sync_seconds', 0)}s)",
                    "last check": _ago(float(s.get("last_verify", 0))),
                    "drift": f"{s.get('drift_found_last', 0)} found at the last check, "
                    f"{s.get('drift_repaired', 0)} repaired since the primary took over",
                    "skipped": "; ".join(s.get("skipped", [])) or "-",
                    "error": s.get("error") or "-",
                }.items()
            )
        )

    emit(_call(obj, "status"), output_format, pretty)


@dns.command()
@click.pass_obj
def sync(obj: CliContext) -> None:
    """Compare every zone with PowerDNS now and repair what differs."""
    report = _call(obj, "sync", timeout=60.0)
    created = ", ".join(report["zones_created"]) or "-"
    removed = ", ".join(report["zones_removed"]) or "-"
    click.echo(
        f"synced: {report['rrsets_changed']} rrsets written, {report['drift_repaired']} drifted; "
        f"zones created: {created}, removed: {removed}"
    )


@click.group("dns")
def network_dns() -> None:
    """The names a network publishes in the cluster DNS."""


@network_dns.command("list")
@click.argument("network")
@click.option("-o", "--format", "output_format", type=click.Choice(["pretty", "json"]), default="pretty")
@click.pass_obj
def network_dns_list(obj: CliContext, network: str, output_format: str) -> None:
    """The records the cluster publishes for NETWORK (VNI or name): its zone and the PTRs of its names."""
    from pvc_cli.output import emit, table

    def pretty(rows: list[dict[str, Any]]) -> str:
        return table(["NAME", "TYPE", "CONTENT", "TTL"], [[r["name"], r["type"], r["content"], r["ttl"]] for r in rows])

    emit(_call(obj, "records", network=network), output_format, pretty)
