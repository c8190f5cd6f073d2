"""``pvc storage ...`` (entry point ``pvc.cli: storage``): Ceph status, OSDs, pools, volumes and snapshots.

Every command asks the primary coordinator to act (``cluster.plugin_call("storage-ceph", ...)``), so it
works the same over ZooKeeper and over the API, from any machine. Only click is imported at the top.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from pvc_cli.context import CliContext

PLUGIN = "storage-ceph"
FORMAT_HELP = "Output format."


def _call(obj: CliContext, action: str, timeout: float = 60.0, **args: Any) -> Any:
    with obj.cluster() as cluster:
        return cluster.plugin_call(PLUGIN, action, {k: v for k, v in args.items() if v is not None}, timeout=timeout)


def _output(function: Any) -> Any:
    from pvc_cli.output import format_option

    return format_option(function)


def _emit(data: Any, output_format: str, pretty: Any) -> None:
    from pvc_cli.output import emit

    emit(data, output_format, pretty)


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    from pvc_cli.output import table

    return table(headers, rows)


def _size(size: int | None) -> str:
    from pvc_storage_ceph.images import human_size

    return human_size(size)


def _ref(ref: str) -> tuple[str, str]:
    pool, _, name = ref.partition("/")
    if not pool or not name or "/" in name:
        raise click.BadParameter(f"'{ref}' is not POOL/VOLUME")
    return pool, name


def _quiet(result: Any, output_format: str, line: str) -> None:
    _emit(result, output_format, lambda _r: line)


@click.group()
def storage() -> None:
    """Ceph storage: status, OSDs, pools, volumes and snapshots (the storage-ceph plugin)."""


@storage.command()
@_output
@click.pass_obj
def status(obj: CliContext, output_format: str) -> None:
    """Ceph's health with its own checks, capacity, PG states and OSDs."""
    found = _call(obj, "status")

    def pretty(s: dict[str, Any]) -> str:
        lines = [
            f"health:    {s['health']}",
            f"capacity:  {_size(s['used_bytes'])} used of {_size(s['total_bytes'])}, "
            f"{_size(s['available_bytes'])} available",
            f"OSDs:      {s['osds']} total, {s['osds_up']} up, {s['osds_in']} in",
            f"PGs:       {s['pgs']} ({', '.join(f'{n} {k}' for k, n in sorted(s['pg_states'].items())) or 'none'})",
            f"flags:     {', '.join(s['flags']) or '-'}",
        ]
        lines += [f"check:     {check}" for check in s["checks"]]
        return "\n".join(lines)

    _emit(found, output_format, pretty)


@storage.command()
@_output
@click.pass_obj
def util(obj: CliContext, output_format: str) -> None:
    """Per pool: stored, used, available, objects."""
    pools = _call(obj, "util")
    rows = [
        [p["name"], _size(p["stored_bytes"]), _size(p["used_bytes"]), _size(p["available_bytes"]), p["objects"]]
        for p in pools
    ]
    _emit(pools, output_format, lambda _p: _table(["POOL", "STORED", "USED", "AVAILABLE", "OBJECTS"], rows))


# -- OSDs --------------------------------------------------------------------------------------------------


@storage.group()
def osd() -> None:
    """Ceph's OSDs (one or more per node)."""


@osd.command("list")
@_output
@click.pass_obj
def osd_list(obj: CliContext, output_format: str) -> None:
    """Every OSD: id, node, up/in, weight, used."""
    osds = _call(obj, "osd.list")
    rows = [
        [
            o["id"],
            o["node"] or "-",
            "up" if o["up"] else "down",
            "in" if o["in"] else "out",
            f"{o['weight']:.4f}",
            f"{_size(o['used_bytes'])} of {_size(o['size_bytes'])}",
            o["pgs"],
        ]
        for o in osds
    ]
    _emit(osds, output_format, lambda _o: _table(["ID", "NODE", "UP", "IN", "WEIGHT", "USED", "PGS"], rows))


@osd.command("in")
@click.argument("ids", nargs=-1, type=int, required=True)
@click.pass_obj
def osd_in(obj: CliContext, ids: tuple[int, ...]) -> None:
    """Mark OSDs IDS in: they take data again."""
    _call(obj, "osd.in", ids=list(ids))
    click.echo(f"in: {', '.join(f'osd.{i}' for i in ids)}")


@osd.command("out")
@click.argument("ids", nargs=-1, type=int, required=True)
@click.pass_obj
def osd_out(obj: CliContext, ids: tuple[int, ...]) -> None:
    """Mark OSDs IDS out: their data moves to the other OSDs."""
    _call(obj, "osd.out", ids=list(ids))
    click.echo(f"out: {', '.join(f'osd.{i}' for i in ids)}")


@osd.command("add")
@click.argument("node")
@click.option("--size", default="1G", show_default=True, help="memstore: its capacity; bluestore: a new file's size.")
@click.option("--objectstore", type=click.Choice(["memstore", "bluestore"]), default="memstore", show_default=True)
@click.option("--device", help="bluestore: an empty disk, partition or file on NODE (a new path: a sparse file).")
@click.pass_obj
def osd_add(obj: CliContext, node: str, size: str, objectstore: str, device: str | None) -> None:
    """Add an OSD on NODE, run and kept running by NODE's pvcd."""
    added = _call(obj, "osd.add", timeout=150.0, node=node, size=size, objectstore=objectstore, device=device)
    where = f" on {added['device']}" if added.get("device") else ""
    click.echo(f"added osd.{added['id']} on {added['node']} ({objectstore}{where}, {_size(added['size_bytes'])})")


@osd.command("remove")
@click.argument("osd_id", type=int)
@click.option("--yes", is_flag=True, help="Confirm: the OSD leaves the cluster for good.")
@click.pass_obj
def osd_remove(obj: CliContext, osd_id: int, yes: bool) -> None:
    """Remove OSD OSD_ID for good; refused while the other OSDs cannot hold its data."""
    removed = _call(obj, "osd.remove", id=osd_id, yes=yes)
    click.echo(f"removed osd.{removed['removed']} (on {removed['node'] or 'no node'})")


@osd.command("set")
@click.argument("flag")
@click.pass_obj
def osd_set(obj: CliContext, flag: str) -> None:
    """Set a cluster flag: noout (before maintenance), noin, norebalance, norecover..."""
    flags = _call(obj, "osd.set", flag=flag)
    click.echo(f"flags: {', '.join(flags) or '-'}")


@osd.command("unset")
@click.argument("flag")
@click.pass_obj
def osd_unset(obj: CliContext, flag: str) -> None:
    """Unset a cluster flag."""
    flags = _call(obj, "osd.unset", flag=flag)
    click.echo(f"flags: {', '.join(flags) or '-'}")


# -- pools -------------------------------------------------------------------------------------------------


@storage.group()
def pool() -> None:
    """Pools: where volumes live, with their number of copies."""


@pool.command("list")
@_output
@click.pass_obj
def pool_list(obj: CliContext, output_format: str) -> None:
    """Every pool: copies, minimum copies, PGs, application, stored."""
    pools = _call(obj, "pool.list")
    rows = [
        [p["name"], p["replicas"], p["min_replicas"], p["pgs"] or "auto", p["application"], _size(p["stored_bytes"])]
        for p in pools
    ]
    _emit(pools, output_format, lambda _p: _table(["POOL", "COPIES", "MIN", "PGS", "APP", "STORED"], rows))


@pool.command("add")
@click.argument("name")
@click.option("--replicas", type=int, default=3, show_default=True, help="Copies kept of every object.")
@click.option("--min-replicas", type=int, default=2, show_default=True, help="Copies that must be up for I/O.")
@click.option("--pgs", type=int, help="Placement groups (default: Ceph scales them).")
@click.pass_obj
def pool_add(obj: CliContext, name: str, replicas: int, min_replicas: int, pgs: int | None) -> None:
    """Add pool NAME (for RBD volumes)."""
    added = _call(obj, "pool.add", name=name, replicas=replicas, min_replicas=min_replicas, pgs=pgs)
    click.echo(f"added pool {added['name']} ({added['replicas']} copies, {added['pgs'] or 'autoscaled'} PGs)")


@pool.command("set")
@click.argument("name")
@click.option("--replicas", type=int, help="Copies kept of every object.")
@click.option("--min-replicas", type=int, help="Copies that must be up for I/O.")
@click.option("--pgs", type=int, help="Placement groups (turns autoscaling off).")
@click.pass_obj
def pool_set(obj: CliContext, name: str, replicas: int | None, min_replicas: int | None, pgs: int | None) -> None:
    """Change pool NAME."""
    changed = _call(obj, "pool.set", name=name, replicas=replicas, min_replicas=min_replicas, pgs=pgs)
    click.echo(f"pool {changed['name']}: {changed['replicas']} copies, min {changed['min_replicas']}")


@pool.command("remove")
@click.argument("name")
@click.option("--yes", is_flag=True, help="Confirm: every volume in the pool is destroyed.")
@click.pass_obj
def pool_remove(obj: CliContext, name: str, yes: bool) -> None:
    """Remove pool NAME and its volumes; refused while a VM has a volume in it."""
    _call(obj, "pool.remove", name=name, yes=yes)
    click.echo(f"removed pool {name}")


# -- volumes -----------------------------------------------------------------------------------------------


@storage.group()
def volume() -> None:
    """Volumes: VM disks (RBD images)."""


@volume.command("list")
@click.option("--pool", help="Only this pool's volumes.")
@_output
@click.pass_obj
def volume_list(obj: CliContext, pool: str | None, output_format: str) -> None:
    """Every volume: size, parent, the VMs that use it."""
    volumes = _call(obj, "volume.list", pool=pool)
    rows = [
        [f"{v['pool']}/{v['name']}", _size(v["size_bytes"]), v["parent"] or "-", ",".join(v["vms"]) or "-"]
        for v in volumes
    ]
    _emit(volumes, output_format, lambda _v: _table(["VOLUME", "SIZE", "PARENT", "VMS"], rows))


@volume.command("info")
@click.argument("ref", metavar="POOL/VOLUME")
@_output
@click.pass_obj
def volume_info(obj: CliContext, ref: str, output_format: str) -> None:
    """One volume: size, parent, snapshots, VMs."""
    pool_name, name = _ref(ref)
    found = _call(obj, "volume.info", pool=pool_name, name=name)

    def pretty(v: dict[str, Any]) -> str:
        pairs = [
            ("volume", f"{v['pool']}/{v['name']}"),
            ("size", _size(v["size_bytes"])),
            ("parent", v["parent"] or "-"),
            ("snapshots", v["snapshots"]),
            ("vms", ", ".join(v["vms"]) or "-"),
        ]
        return "\n".join(f"{k + ':':<11}{value}" for k, value in pairs)

    _emit(found, output_format, pretty)


@volume.command("add")
@click.argument("ref", metavar="POOL/VOLUME")
@click.argument("size")
@click.pass_obj
def volume_add(obj: CliContext, ref: str, size: str) -> None:
    """Add an empty volume of SIZE (10G, 512M...)."""
    pool_name, name = _ref(ref)
    added = _call(obj, "volume.add", pool=pool_name, name=name, size=size)
    click.echo(f"added volume {added['pool']}/{added['name']} ({_size(added['size_bytes'])})")


@volume.command("resize")
@click.argument("ref", metavar="POOL/VOLUME")
@click.argument("size")
@click.option("--yes", is_flag=True, help="Confirm a shrink (what lies past the new end is lost).")
@click.pass_obj
def volume_resize(obj: CliContext, ref: str, size: str, yes: bool) -> None:
    """Grow (or with --yes shrink) a volume to SIZE."""
    pool_name, name = _ref(ref)
    resized = _call(obj, "volume.resize", pool=pool_name, name=name, size=size, yes=yes)
    click.echo(f"volume {ref} is {_size(resized['size_bytes'])}")


@volume.command("rename")
@click.argument("ref", metavar="POOL/VOLUME")
@click.argument("new_name")
@click.pass_obj
def volume_rename(obj: CliContext, ref: str, new_name: str) -> None:
    """Rename a volume in its pool; refused while a VM uses it."""
    pool_name, name = _ref(ref)
    _call(obj, "volume.rename", pool=pool_name, name=name, new_name=new_name)
    click.echo(f"renamed {ref} to {pool_name}/{new_name}")


@volume.command("clone")
@click.argument("ref", metavar="POOL/VOLUME")
@click.argument("new_name")
@click.option("--pool", "new_pool", help="The pool of the clone (default: the same).")
@click.option("--snapshot", help="Clone this snapshot (default: the volume as it is now).")
@click.pass_obj
def volume_clone(obj: CliContext, ref: str, new_name: str, new_pool: str | None, snapshot: str | None) -> None:
    """A new volume NEW_NAME with the content of POOL/VOLUME."""
    pool_name, name = _ref(ref)
    cloned = _call(
        obj, "volume.clone", pool=pool_name, name=name, new_name=new_name, new_pool=new_pool, snapshot=snapshot
    )
    click.echo(f"cloned {ref} to {cloned['pool']}/{cloned['name']}")


@volume.command("remove")
@click.argument("ref", metavar="POOL/VOLUME")
@click.pass_obj
def volume_remove(obj: CliContext, ref: str) -> None:
    """Remove a volume and its snapshots; refused while a VM uses it."""
    pool_name, name = _ref(ref)
    _call(obj, "volume.remove", pool=pool_name, name=name)
    click.echo(f"removed volume {ref}")


@volume.command("upload")
@click.argument("ref", metavar="POOL/VOLUME")
@click.argument("image", type=click.Path(exists=True, dir_okay=False))
@click.option("--size", help="The new volume's size (default: the disk the image holds).")
@click.pass_obj
def volume_upload(obj: CliContext, ref: str, image: str, size: str | None) -> None:
    """Create volume POOL/VOLUME from a raw or qcow2 IMAGE (read as it is sent; zeroes are skipped)."""
    import base64

    from pvc_storage_ceph.images import extents, parse_size, probe

    pool_name, name = _ref(ref)
    with open(image, "rb") as handle, obj.cluster() as cluster:
        found = probe(handle)
        wanted = parse_size(size) if size else found.virtual_size
        if wanted < found.virtual_size:
            raise click.BadParameter(f"the image holds a {found.virtual_size}-byte disk; --size cannot be smaller")
        cluster.plugin_call(PLUGIN, "volume.add", {"pool": pool_name, "name": name, "size": wanted})
        try:
            with click.progressbar(length=found.virtual_size, label=f"{found.format} -> {ref}") as bar:
                done = 0
                for offset, data in extents(handle):
                    args = {"pool": pool_name, "name": name, "offset": offset, "data": base64.b64encode(data).decode()}
                    cluster.plugin_call(PLUGIN, "volume.write", args)
                    bar.update(offset + len(data) - done)
                    done = offset + len(data)
                bar.update(found.virtual_size - done)
        except BaseException:
            cluster.plugin_call(PLUGIN, "volume.remove", {"pool": pool_name, "name": name})  # no half volume left
            raise
    click.echo(f"uploaded {image} ({found.format}) to {ref}")


@volume.command("download")
@click.argument("ref", metavar="POOL/VOLUME")
@click.argument("image", type=click.Path(dir_okay=False, writable=True))
@click.option("--format", "image_format", type=click.Choice(["raw", "qcow2"]), default="raw", show_default=True)
@click.pass_obj
def volume_download(obj: CliContext, ref: str, image: str, image_format: str) -> None:
    """Copy volume POOL/VOLUME into IMAGE (raw, sparse; qcow2 through qemu-img)."""
    import base64
    import os
    import subprocess
    import tempfile

    from pvc_storage_ceph.actions import CHUNK_LIMIT

    pool_name, name = _ref(ref)
    target = image if image_format == "raw" else tempfile.mktemp(dir=os.path.dirname(os.path.abspath(image)))
    try:
        with obj.cluster() as cluster, open(target, "wb") as handle:
            size = int(cluster.plugin_call(PLUGIN, "volume.info", {"pool": pool_name, "name": name})["size_bytes"])
            handle.truncate(size)
            with click.progressbar(length=size, label=f"{ref} -> {image_format}") as bar:
                for offset in range(0, size, CHUNK_LIMIT):
                    args = {"pool": pool_name, "name": name, "offset": offset, "length": CHUNK_LIMIT}
                    piece = cluster.plugin_call(PLUGIN, "volume.read", args)
                    if not piece.get("zero"):
                        handle.seek(offset)
                        handle.write(base64.b64decode(piece["data"]))
                    bar.update(piece["length"])
        if image_format == "qcow2":
            subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", target, image], check=True)
    finally:
        if target != image and os.path.exists(target):
            os.unlink(target)
    click.echo(f"downloaded {ref} to {image} ({image_format})")


# -- snapshots ---------------------------------------------------------------------------------------------


@volume.group()
def snapshot() -> None:
    """A volume's snapshots."""


@snapshot.command("list")
@click.argument("ref", metavar="POOL/VOLUME")
@_output
@click.pass_obj
def snapshot_list(obj: CliContext, ref: str, output_format: str) -> None:
    """A volume's snapshots, oldest first."""
    import time

    pool_name, name = _ref(ref)
    snaps = _call(obj, "snapshot.list", pool=pool_name, volume=name)
    rows = [
        [s["name"], _size(s["size_bytes"]), time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(s["created_at"]))]
        for s in snaps
    ]
    _emit(snaps, output_format, lambda _s: _table(["SNAPSHOT", "SIZE", "TAKEN"], rows))


@snapshot.command("add")
@click.argument("ref", metavar="POOL/VOLUME")
@click.argument("name")
@click.pass_obj
def snapshot_add(obj: CliContext, ref: str, name: str) -> None:
    """Take snapshot NAME of a volume as it is now."""
    pool_name, volume_name = _ref(ref)
    _call(obj, "snapshot.add", pool=pool_name, volume=volume_name, name=name)
    click.echo(f"took snapshot {ref}@{name}")


@snapshot.command("rename")
@click.argument("ref", metavar="POOL/VOLUME")
@click.argument("name")
@click.argument("new_name")
@click.pass_obj
def snapshot_rename(obj: CliContext, ref: str, name: str, new_name: str) -> None:
    """Rename snapshot NAME."""
    pool_name, volume_name = _ref(ref)
    _call(obj, "snapshot.rename", pool=pool_name, volume=volume_name, name=name, new_name=new_name)
    click.echo(f"renamed {ref}@{name} to {new_name}")


@snapshot.command("remove")
@click.argument("ref", metavar="POOL/VOLUME")
@click.argument("name")
@click.pass_obj
def snapshot_remove(obj: CliContext, ref: str, name: str) -> None:
    """Remove snapshot NAME."""
    pool_name, volume_name = _ref(ref)
    _call(obj, "snapshot.remove", pool=pool_name, volume=volume_name, name=name)
    click.echo(f"removed snapshot {ref}@{name}")


@snapshot.command("rollback")
@click.argument("ref", metavar="POOL/VOLUME")
@click.argument("name")
@click.pass_obj
def snapshot_rollback(obj: CliContext, ref: str, name: str) -> None:
    """Put the volume back to snapshot NAME; refused while its VM runs."""
    pool_name, volume_name = _ref(ref)
    _call(obj, "snapshot.rollback", pool=pool_name, volume=volume_name, name=name)
    click.echo(f"rolled {ref} back to {name}")
