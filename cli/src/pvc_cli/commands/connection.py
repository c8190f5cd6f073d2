"""``pvc connection``: the clusters this user talks to."""

from __future__ import annotations

import click

from pvc_cli import connections
from pvc_cli.output import emit, format_option, table


@click.group()
def connection() -> None:
    """Stored cluster connections."""


@connection.command()
@click.argument("name")
@click.option("--zookeeper", "zookeeper", metavar="HOST:PORT[,...]", help="The coordinators' ZooKeeper (direct).")
@click.option("--api", metavar="URL", help="The PVC API (http(s)://host:7370) instead of ZooKeeper.")
@click.option("--key-file", type=click.Path(dir_okay=False), help="File holding the API key.")
@click.option("--cafile", type=click.Path(dir_okay=False), help="CA certificate for an https API.")
@click.option(
    "--credential-file",
    type=click.Path(dir_okay=False),
    help="A secured cluster's ZooKeeper credential (operator.credential or read.credential; mode 0600).",
)
@click.option(
    "--zookeeper-ca",
    type=click.Path(dir_okay=False),
    help="TLS to ZooKeeper's secure client port: the CA (PEM) that signed its certificates.",
)
@click.option("--default", "make_default", is_flag=True, help="Make it the default connection.")
@click.option("--timeout", default=10.0, show_default=True, help="Seconds to wait for the cluster.")
def add(
    name: str,
    zookeeper: str | None,
    api: str | None,
    key_file: str | None,
    cafile: str | None,
    credential_file: str | None,
    zookeeper_ca: str | None,
    make_default: bool,
    timeout: float,
) -> None:
    """Store a connection named NAME (replacing one of the same name)."""
    connections.add(
        name,
        zookeeper,
        make_default=make_default,
        timeout=timeout,
        api=api,
        key_file=key_file,
        cafile=cafile,
        credential_file=credential_file,
        zookeeper_ca=zookeeper_ca,
    )
    click.echo(f"connection {name} saved")


@connection.command("list")
@format_option
def list_connections(output_format: str) -> None:
    """Stored connections; the default is marked."""
    default, stored = connections.stored()
    data = [c.to_dict() | {"name": c.name, "default": c.name == default} for c in stored]
    emit(
        data,
        output_format,
        lambda rows: table(
            ["NAME", "DEFAULT", "ADDRESS"],
            [[r["name"], "*" if r["default"] else "", r.get("api") or r.get("zookeeper", "")] for r in rows],
        ),
    )


@connection.command()
@click.argument("name")
def remove(name: str) -> None:
    """Forget the connection NAME."""
    connections.remove(name)
    click.echo(f"connection {name} removed")


@connection.command()
@click.argument("name")
def default(name: str) -> None:
    """Make NAME the default connection."""
    connections.set_default(name)
    click.echo(f"default connection is now {name}")
