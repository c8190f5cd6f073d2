"""``pvc cluster``: initialise the cluster's ZooKeeper tree and show its status."""

from __future__ import annotations

import sys

import click

from pvc_cli.context import CliContext
from pvc_cli.errors import CliError
from pvc_cli.output import emit, format_option, mapping


@click.group()
def cluster() -> None:
    """The cluster as a whole."""


@cluster.command()
@click.option("--overwrite", is_flag=True, help="Wipe an initialised cluster's PVC data and start afresh.")
@click.option("--yes", is_flag=True, help="Confirm a destructive --overwrite without a prompt.")
@click.option(
    "--secure",
    "secure_dir",
    metavar="DIR",
    type=click.Path(file_okay=False),
    help="Secure the tree: the node, operator and read credentials in DIR (made where missing, mode 0600), "
    "an ACL on every znode. On an initialised cluster: secure (migrate) it, nothing else.",
)
@click.pass_obj
def init(obj: CliContext, overwrite: bool, yes: bool, secure_dir: str | None) -> None:
    """Create the cluster's tree in ZooKeeper (needs a direct ZooKeeper connection)."""
    if overwrite and not yes:
        if not sys.stdin.isatty():
            raise CliError("--overwrite deletes every PVC object in the cluster; add --yes to confirm")
        click.confirm("Delete every PVC object in this cluster and initialise it again?", abort=True)
    if secure_dir is None:
        with obj.cluster() as client:
            client.init(overwrite=overwrite)
            version = client.require_initialised()
        click.echo(f"cluster initialised (schema version {version})")
        return
    from pathlib import Path

    from pvc_core.client import Cluster
    from pvc_core.zk import paths
    from pvc_core.zk.security import credential_path, make_credentials

    directory = Path(secure_dir)
    credentials = make_credentials(directory)
    target = obj.direct()
    with Cluster.connect(
        target.zookeeper, timeout=target.timeout, credential=credentials["node"], tls=target.zookeeper_tls()
    ) as client:
        initialised = client.zk.exists(paths.SCHEMA_VERSION) is not None
        if not initialised or overwrite:
            client.init(overwrite=overwrite)
        count = client.secure(credentials)
        version = client.require_initialised()
    click.echo(
        f"cluster {'initialised and ' if not initialised or overwrite else ''}secured (schema version {version}): "
        f"an ACL on {count} znodes; credentials in {directory}/: give {credential_path(directory, 'node')} to "
        "every node (zookeeper.credential_file) and pvcapid, operator.credential or read.credential to "
        "'pvc connection add ... --credential-file'"
    )


@cluster.command()
@format_option
@click.pass_obj
def status(obj: CliContext, output_format: str) -> None:
    """Health, primary coordinator and node states."""
    with obj.cluster() as client:
        state = client.status()

    def pretty(data: dict) -> str:  # type: ignore[type-arg]
        states = ", ".join(f"{count} {name}" for name, count in sorted(data["nodes_by_state"].items())) or "none"
        return mapping(
            [
                ("health", "ok" if data["healthy"] else "degraded"),
                ("primary", f"{data['primary'] or '(none)'} (epoch {data['primary_epoch']})"),
                ("nodes", f"{data['nodes']} ({states})"),
                ("coordinators", ", ".join(data["coordinators"]) or "(none registered)"),
                ("maintenance", "on" if data["maintenance"] else "off"),
                ("schema", f"version {data['schema_version']}"),
                *[(f"fault {f.get('node', '?')}", f.get("message", "")) for f in data["faults"]],
            ]
        )

    emit(state.to_dict(), output_format, pretty)


@cluster.command()
@click.argument("state", type=click.Choice(["on", "off"]))
@click.pass_obj
def maintenance(obj: CliContext, state: str) -> None:
    """Maintenance mode: while on, the primary fences no node."""
    with obj.cluster() as client:
        client.set_maintenance(state == "on")
    click.echo(f"maintenance {state}")


@cluster.group()
def fault() -> None:
    """Faults the primary raised (failed or held-back fences, VMs it could not place)."""


@fault.command("clear")
@click.argument("node")
@click.pass_obj
def fault_clear(obj: CliContext, node: str) -> None:
    """Forget the fault about NODE once its cause is dealt with."""
    with obj.cluster() as client:
        client.clear_fault(node)
    click.echo(f"fault about {node} cleared")


def _audit_line(entry: dict) -> str:  # type: ignore[type-arg]
    import time as _time

    when = _time.strftime("%Y-%m-%d %H:%M:%S", _time.localtime(float(entry.get("at", 0))))
    who = entry.get("key") or "(no valid key)"
    return (
        f"{when}  {who:<16} {entry.get('source') or '-':<15} {entry.get('method'):<6} {entry.get('path')}  "
        f"{entry.get('status')}  {entry.get('request_id')}"
    )


@cluster.command()
@click.option("-n", "--lines", type=click.IntRange(1, 10000), default=50, show_default=True, help="How many entries.")
@click.option("-f", "--follow", is_flag=True, help="Then print new entries as they come (Ctrl-C to stop).")
@format_option
@click.pass_obj
def audit(obj: CliContext, lines: int, follow: bool, output_format: str) -> None:
    """The API's audit log: every mutating request (when, which key, from where, what, the outcome)."""
    import json

    with obj.cluster() as client:
        entries = client.audit.read(lines)
        if output_format == "json" and not follow:
            click.echo(json.dumps(entries, indent=2))
            return
        for entry in entries:
            click.echo(json.dumps(entry) if output_format == "json" else _audit_line(entry))
        if follow:
            try:
                for entry in client.audit.follow():
                    click.echo(json.dumps(entry) if output_format == "json" else _audit_line(entry), nl=True)
            except KeyboardInterrupt:
                return
