"""``pvc vm``: define VMs and drive their lifecycle; the node that owns a VM does the work."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pvc_cli.completion import complete_node, complete_vm
from pvc_cli.context import CliContext
from pvc_cli.errors import CliError
from pvc_cli.output import emit, format_option, mapping, table

if TYPE_CHECKING:
    from pvc_core.client import ClusterClient
    from pvc_core.vms.model import VmRecord

SELECTORS = ["mem", "memprov", "load", "vcpus", "vms"]
METHODS = ["none", "live", "shutdown"]


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError as exc:
        raise CliError(f"{path}: cannot read: {exc.strerror}") from exc


def _limit(values: tuple[str, ...]) -> list[str]:
    return [name for value in values for name in value.split(",") if name]


def _progress(line: str) -> None:
    click.echo(f"  {time.strftime('%H:%M:%S')} {line}", err=True)


def _finish(client: ClusterClient, name: str, wait: bool, timeout: float, done: str) -> None:
    if not wait:
        click.echo(f"{name}: {done} requested")
        return
    started = time.monotonic()
    record = client.vms.wait(name, timeout=timeout, progress=_progress)
    click.echo(f"{record.name}: {record.state} on {record.node} ({time.monotonic() - started:.1f}s)")


wait_option = click.option("--wait", is_flag=True, help="Return when the VM has settled; show progress.")
timeout_option = click.option("--timeout", default=300.0, show_default=True, help="Seconds --wait waits.")
vm_argument = click.argument("name", metavar="VM", shell_complete=complete_vm)


@click.group()
def vm() -> None:
    """Virtual machines."""


@vm.command()
@click.argument("xml_file", metavar="FILE.xml", type=click.Path(dir_okay=False))
@click.option("--target", shell_complete=complete_node, help="Home node (default: chosen by the node selector).")
@click.option("--limit", multiple=True, help="Nodes the VM may run on (repeat, or comma-separated).")
@click.option("--node-selector", type=click.Choice(SELECTORS), help="How a node is chosen (default: mem).")
@click.option("--autostart", is_flag=True, help="Start it when its node becomes ready.")
@click.option(
    "--migration-method",
    type=click.Choice(METHODS),
    default="none",
    show_default=True,
    help="none: live, else shutdown+start; live: live only; shutdown: always shutdown+start.",
)
@click.option("--max-downtime", type=click.IntRange(min=1), default=300, show_default=True, help="Live migration, ms.")
@click.option("--tag", "tags", multiple=True, help="A tag (repeat for more).")
@click.option(
    "--volume",
    "volumes",
    multiple=True,
    metavar="POOL/VOLUME[:BUS[:TARGET]]",
    help="A disk: a volume a storage plugin offers (repeat for more).",
)
@click.option(
    "--network",
    "networks",
    multiple=True,
    metavar="NETWORK[,mac=MAC][,model=MODEL]",
    help="An interface on a network (VNI or name) a network plugin offers (repeat for more).",
)
@format_option
@click.pass_obj
def define(
    obj: CliContext,
    xml_file: str,
    target: str | None,
    limit: tuple[str, ...],
    node_selector: str | None,
    autostart: bool,
    migration_method: str,
    max_downtime: int,
    tags: tuple[str, ...],
    volumes: tuple[str, ...],
    networks: tuple[str, ...],
    output_format: str,
) -> None:
    """Define a VM from libvirt domain XML (validated; nothing is written when it is refused)."""
    with obj.cluster() as client:
        record = client.vms.define(
            _read(xml_file),
            target=target,
            limit=_limit(limit),
            selector=node_selector,
            autostart=autostart,
            migration_method=migration_method,
            max_downtime_ms=max_downtime,
            tags=tags,
            volumes=volumes,
            networks=networks,
        )
    emit(record.to_dict(), output_format, lambda r: f"VM {r['name']} defined ({r['uuid']}) on {r['node']}")


@vm.command("list")
@click.option("--node", shell_complete=complete_node, help="Only VMs on this node.")
@click.option("--state", help="Only VMs in this state.")
@click.option("--tag", help="Only VMs with this tag.")
@format_option
@click.pass_obj
def list_vms(obj: CliContext, node: str | None, state: str | None, tag: str | None, output_format: str) -> None:
    """VMs with their state, node and size."""
    with obj.cluster() as client:
        records = client.vms.list(node=node, state=state, tag=tag)

    def pretty(rows: list[dict[str, Any]]) -> str:
        return table(
            ["NAME", "STATE", "NODE", "LAST NODE", "MEMORY", "VCPUS", "TAGS", "NOTE"],
            [
                [
                    r["name"],
                    r["state"],
                    r["node"] or "-",
                    r["last_node"] or "-",
                    f"{r['memory_mib']} MiB",
                    r["vcpus"],
                    ",".join(r["tags"]) or "-",
                    (f"busy: {r['busy']}" if r["busy"] else "") or r["failure_reason"] or "",
                ]
                for r in rows
            ],
        )

    emit([r.summary() for r in records], output_format, pretty)


def _info(record: VmRecord) -> dict[str, Any]:
    return record.to_dict()


@vm.command()
@vm_argument
@format_option
@click.pass_obj
def info(obj: CliContext, name: str, output_format: str) -> None:
    """One VM in detail."""
    with obj.cluster() as client:
        record = client.vms.get(name)

    def pretty(r: dict[str, Any]) -> str:
        operation = r["operation"]
        migration = r["last_migration"]
        return mapping(
            [
                ("name", r["name"]),
                ("uuid", r["uuid"]),
                ("state", r["state"]),
                ("observed", r["observed"] or "-"),
                ("node", r["node"] or "-"),
                ("last node", r["last_node"] or "-"),
                ("memory", f"{r['memory_mib']} MiB"),
                ("vcpus", r["vcpus"]),
                ("node limit", ", ".join(r["node_limit"]) or "any"),
                ("node selector", r["node_selector"] or "default"),
                ("autostart", "yes" if r["autostart"] else "no"),
                ("migration method", r["migration_method"]),
                ("max downtime", f"{r['max_downtime_ms']} ms"),
                ("tags", ", ".join(r["tags"]) or "-"),
                ("operation", f"{operation['kind']} on {operation['node']}" if operation else "-"),
                ("failure reason", r["failure_reason"] or "-"),
                ("recovered from", r["recovered_from"] or "-"),
                (
                    "last migration",
                    f"{migration.get('seconds')} s, downtime {migration.get('downtime_ms')} ms" if migration else "-",
                ),
            ]
        )

    emit(_info(record), output_format, pretty)


@vm.command()
@vm_argument
@click.pass_obj
def dump(obj: CliContext, name: str) -> None:
    """The VM's libvirt domain XML."""
    with obj.cluster() as client:
        click.echo(client.vms.dump(name))


@vm.command()
@vm_argument
@click.argument("xml_file", metavar="FILE.xml", type=click.Path(dir_okay=False))
@click.option("--restart", is_flag=True, help="Restart the VM so that the new XML applies now.")
@wait_option
@timeout_option
@click.pass_obj
def modify(obj: CliContext, name: str, xml_file: str, restart: bool, wait: bool, timeout: float) -> None:
    """Replace the VM's domain XML (validated; same UUID and name)."""
    with obj.cluster() as client:
        record = client.vms.modify(name, _read(xml_file), restart=restart)
        if restart:
            _finish(client, record.name, wait, timeout, "restart")
        else:
            click.echo(f"{record.name}: XML replaced; it applies at the next start (or use --restart)")


@vm.command()
@vm_argument
@click.option("--limit", multiple=True, help="Nodes the VM may run on; give '' to clear.")
@click.option("--node-selector", type=click.Choice([*SELECTORS, ""]), default=None, help="'' for the default.")
@click.option("--autostart/--no-autostart", default=None)
@click.option("--migration-method", type=click.Choice(METHODS), default=None)
@click.option("--max-downtime", type=click.IntRange(min=1), default=None, help="Live migration, ms.")
@format_option
@click.pass_obj
def meta(
    obj: CliContext,
    name: str,
    limit: tuple[str, ...],
    node_selector: str | None,
    autostart: bool | None,
    migration_method: str | None,
    max_downtime: int | None,
    output_format: str,
) -> None:
    """Change the VM's PVC metadata: node limit, selector, autostart, migration method."""
    with obj.cluster() as client:
        record = client.vms.meta(
            name,
            limit=_limit(limit) if limit else None,
            selector=node_selector,
            autostart=autostart,
            migration_method=migration_method,
            max_downtime_ms=max_downtime,
        )
    emit(record.to_dict(), output_format, lambda r: f"{r['name']}: metadata updated")


@vm.command()
@vm_argument
@click.argument("new_name")
@click.pass_obj
def rename(obj: CliContext, name: str, new_name: str) -> None:
    """Rename a stopped VM."""
    with obj.cluster() as client:
        client.vms.rename(name, new_name)
    click.echo(f"{name} renamed to {new_name}")


@vm.command(name="remove")
@vm_argument
@click.option("--yes", is_flag=True, help="Confirm: the VM's definition is deleted.")
@click.pass_obj
def remove(obj: CliContext, name: str, yes: bool) -> None:
    """Delete a stopped VM's definition from the cluster (also: undefine)."""
    if not yes:
        raise CliError(f"removing VM {name} deletes its definition; add --yes to confirm")
    with obj.cluster() as client:
        client.vms.remove(name)
    click.echo(f"VM {name} removed")


vm.add_command(remove, name="undefine")


@vm.group()
def tag() -> None:
    """A VM's tags."""


@tag.command("add")
@vm_argument
@click.argument("tags", nargs=-1, required=True)
@click.pass_obj
def tag_add(obj: CliContext, name: str, tags: tuple[str, ...]) -> None:
    """Add tags."""
    with obj.cluster() as client:
        record = client.vms.tag(name, add=tags)
    click.echo(f"{record.name}: tags {', '.join(record.tags) or '-'}")


@tag.command("remove")
@vm_argument
@click.argument("tags", nargs=-1, required=True)
@click.pass_obj
def tag_remove(obj: CliContext, name: str, tags: tuple[str, ...]) -> None:
    """Remove tags."""
    with obj.cluster() as client:
        record = client.vms.tag(name, remove=tags)
    click.echo(f"{record.name}: tags {', '.join(record.tags) or '-'}")


@vm.group()
def volume() -> None:
    """A VM's volumes (disks); a change takes effect at the VM's next start."""


@volume.command("list")
@vm_argument
@format_option
@click.pass_obj
def volume_list(obj: CliContext, name: str, output_format: str) -> None:
    """The VM's volumes: POOL/VOLUME, bus, target."""
    with obj.cluster() as client:
        record = client.vms.get(name)
    volumes = [v.to_dict() for v in record.volumes]
    rows = [[f"{v['pool']}/{v['volume']}", v["bus"], v["target"]] for v in volumes]
    emit(volumes, output_format, lambda _v: table(["VOLUME", "BUS", "TARGET"], rows))


@volume.command("add")
@vm_argument
@click.argument("ref", metavar="POOL/VOLUME")
@click.option("--bus", type=click.Choice(["virtio", "scsi", "sata", "ide"]), default="virtio", show_default=True)
@click.option("--target", default="", help="The guest's device name (vdb, sdc...); default: the next free one.")
@click.pass_obj
def volume_add(obj: CliContext, name: str, ref: str, bus: str, target: str) -> None:
    """Give the VM volume POOL/VOLUME as a disk (a storage plugin must offer it)."""
    with obj.cluster() as client:
        record = client.vms.get(name)
        if any(v.ref == ref for v in record.volumes):
            raise CliError(f"VM {record.name} already has volume {ref}")
        added = {"pool": ref.partition("/")[0], "volume": ref.partition("/")[2], "bus": bus, "target": target}
        if "/" not in ref:
            raise CliError(f"'{ref}' is not POOL/VOLUME")
        record = client.vms.attach(name, volumes=[*record.volumes, added])
    new = next(v for v in record.volumes if v.ref == ref)
    click.echo(f"{record.name}: volume {ref} as {new.target} ({new.bus}); it takes effect at the next start")


@volume.command("remove")
@vm_argument
@click.argument("ref", metavar="POOL/VOLUME")
@click.pass_obj
def volume_remove(obj: CliContext, name: str, ref: str) -> None:
    """Take volume POOL/VOLUME away from the VM (the volume itself stays)."""
    with obj.cluster() as client:
        record = client.vms.get(name)
        if not any(v.ref == ref for v in record.volumes):
            raise CliError(f"VM {record.name} has no volume {ref}")
        record = client.vms.attach(name, volumes=[v for v in record.volumes if v.ref != ref])
    click.echo(f"{record.name}: volume {ref} removed; it takes effect at the next start")


def _state_command(command: str, doc: str, targeted: bool = False) -> None:
    @vm.command(name=command, help=doc)
    @vm_argument
    @wait_option
    @timeout_option
    @click.pass_obj
    def run(obj: CliContext, name: str, wait: bool, timeout: float, target: str | None = None) -> None:
        with obj.cluster() as client:
            method = getattr(client.vms, command)
            record = method(name, target) if targeted else method(name)
            _finish(client, record.name, wait, timeout, command)

    if targeted:
        click.option("--target", shell_complete=complete_node, help="Node (default: chosen by the selector).")(run)


_state_command("start", "Start the VM (on its node if it fits there, else where the selector says).", targeted=True)
_state_command("shutdown", "Shut the VM down cleanly (ACPI); fails clearly after the timeout, never forces.")
_state_command("stop", "Power the VM off at once.")
_state_command("restart", "Shut the VM down cleanly and start it again.")
_state_command("disable", "Shut the VM down and keep it out of autostart and recovery.")
_state_command("migrate", "Move the running VM to another node (live when its method allows).", targeted=True)
_state_command("unmigrate", "Move a migrated VM back to the node it came from.")
_state_command("move", "Migrate the VM for good (unmigrate will not bring it back).", targeted=True)


@vm.command()
@vm_argument
@click.option("-n", "--lines", default=50, show_default=True, type=click.IntRange(min=1, max=10000))
@click.option("-f", "--follow", is_flag=True, help="Keep printing new lines until interrupted.")
@click.pass_obj
def log(obj: CliContext, name: str, lines: int, follow: bool) -> None:
    """The VM's serial console: the last lines, from the node that runs it."""
    with obj.cluster() as client:
        try:
            for batch in client.vms.console(name, lines=lines, follow=follow):
                for line in batch:
                    click.echo(line)
        except KeyboardInterrupt:
            pass


@vm.group()
def network() -> None:
    """A VM's network interfaces; a running VM gets a change at once where its hypervisor allows."""


@network.command("list")
@vm_argument
@format_option
@click.pass_obj
def network_list(obj: CliContext, name: str, output_format: str) -> None:
    """The VM's interfaces: network, MAC address, model."""
    with obj.cluster() as client:
        record = client.vms.get(name)
    interfaces = [n.to_dict() for n in record.networks]
    rows = [[n["network"], n["mac"], n["model"]] for n in interfaces]
    emit(interfaces, output_format, lambda _n: table(["NETWORK", "MAC", "MODEL"], rows))


@network.command("add")
@vm_argument
@click.argument("network_ref", metavar="NETWORK")
@click.option(
    "--model", type=click.Choice(["virtio", "e1000", "e1000e", "rtl8139"]), default="virtio", show_default=True
)
@click.option("--macaddr", default="", help="The interface's MAC address; default: a new one (52:54:00:...).")
@click.pass_obj
def network_add(obj: CliContext, name: str, network_ref: str, model: str, macaddr: str) -> None:
    """Give the VM an interface on NETWORK (its VNI or name; a network plugin must offer it)."""
    with obj.cluster() as client:
        record = client.vms.get(name)
        added = {"network": network_ref, "model": model, "mac": macaddr}
        record = client.vms.attach(name, networks=[*record.networks, added])
    new = record.networks[-1]
    when = "added to the running VM" if record.observed == "running" else "it takes effect at the next start"
    click.echo(f"{record.name}: interface {new.mac} on network {new.network}; {when}")


@network.command("remove")
@vm_argument
@click.argument("network_ref", metavar="NETWORK|MAC")
@click.pass_obj
def network_remove(obj: CliContext, name: str, network_ref: str) -> None:
    """Take away the VM's interface with MAC address NETWORK|MAC, or its interfaces on network NETWORK."""
    with obj.cluster() as client:
        record = client.vms.get(name)
        kept = [n for n in record.networks if network_ref.lower() not in (n.mac, n.network.lower())]
        if len(kept) == len(record.networks):
            raise CliError(f"VM {record.name} has no interface on network or with MAC {network_ref}")
        record = client.vms.attach(name, networks=kept)
    when = "taken out of the running VM" if record.observed == "running" else "it takes effect at the next start"
    click.echo(f"{record.name}: interface(s) {network_ref} removed; {when}")
