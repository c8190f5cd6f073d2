"""The plugin's actions (``pvc_plugin_actions``): what ``pvc storage ...`` and the API ask the primary to do.

Each takes the call's arguments (a JSON object) and answers JSON. Arguments are checked here, with one
line naming the field; the refusals that need the cluster's VMs (a pool or volume in use, a rollback
while the VM runs) name the VMs.
"""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from pvc_core.errors import Conflict, InvalidRequest, NotFound, PvcError
from pvc_storage_ceph.images import parse_size

if TYPE_CHECKING:
    from pvc_core.vms.model import VmRecord
    from pvc_storage_ceph.service import StorageService

Action = Callable[[dict[str, Any]], Any]
CHUNK_LIMIT = 256 * 1024  # bytes of a volume written or read by one call (base64 in the JSON)
STOPPED = frozenset({"stop", "disable", "fail"})


def _text(args: dict[str, Any], field: str, default: str | None = None) -> str:
    value = args.get(field, default)
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"{field}: a name is required", field=field)
    return value


def _optional_text(args: dict[str, Any], field: str) -> str | None:
    value = args.get(field)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"{field}: {value!r} is not a name", field=field)
    return value


def _int(args: dict[str, Any], field: str, default: int | None = None, low: int = 0) -> int | None:
    value = args.get(field, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise InvalidRequest(f"{field}: {value!r} is not a whole number of at least {low}", field=field)
    return value


def _ids(args: dict[str, Any]) -> list[int]:
    ids = args.get("ids")
    if not isinstance(ids, list) or not ids or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise InvalidRequest("ids: a list of OSD ids (numbers) is required", field="ids")
    return ids


def _vms_using(vms: list[VmRecord], pool: str, volume: str | None = None) -> list[VmRecord]:
    return [vm for vm in vms if any(v.pool == pool and (volume is None or v.volume == volume) for v in vm.volumes)]


def _names(vms: list[VmRecord]) -> str:
    return ", ".join(sorted(vm.name for vm in vms))


def actions(service: StorageService) -> dict[str, Action]:
    driver = service.driver
    index = service.index

    def vms() -> list[VmRecord]:
        return service.host.cluster.vms.list()

    def refuse_if_used(pool: str, volume: str, doing: str) -> None:
        users = _vms_using(vms(), pool, volume)
        if users:
            raise Conflict(f"cannot {doing} {pool}/{volume}: VM {_names(users)} uses it (remove it from the VM first)")

    # -- the cluster --------------------------------------------------------------------------------------

    def status(args: dict[str, Any]) -> dict[str, Any]:
        return driver.status()

    def util(args: dict[str, Any]) -> list[dict[str, Any]]:
        return [asdict(p) for p in driver.pools()]

    # -- OSDs -----------------------------------------------------------------------------------------------

    def osd_list(args: dict[str, Any]) -> list[dict[str, Any]]:
        return driver.osds()

    def osd_in(args: dict[str, Any]) -> list[dict[str, Any]]:
        driver.set_osds_in(_ids(args), take_in=True)
        return driver.osds()

    def osd_out(args: dict[str, Any]) -> list[dict[str, Any]]:
        driver.set_osds_in(_ids(args), take_in=False)
        return driver.osds()

    def osd_set(args: dict[str, Any]) -> list[str]:
        return driver.set_flag(_text(args, "flag"), on=True)

    def osd_unset(args: dict[str, Any]) -> list[str]:
        return driver.set_flag(_text(args, "flag"), on=False)

    def osd_remove(args: dict[str, Any]) -> dict[str, Any]:
        osd_id = _int(args, "id")
        assert osd_id is not None
        if not args.get("yes"):
            raise InvalidRequest(f"removing osd.{osd_id} needs confirming (--yes)", field="yes")
        reason = driver.removal_refusal(osd_id)
        if reason is not None:
            raise Conflict(f"cannot remove osd.{osd_id}: {reason}")
        node = next(o["node"] for o in driver.osds() if o["id"] == osd_id)
        driver.set_osds_in([osd_id], take_in=False)
        stopped = False
        with contextlib.suppress(PvcError):  # a node that is down forgets it when it comes back
            service.node_job(node, {"action": "forget", "id": osd_id}, timeout=30.0)
            stopped = True
        driver.remove_osd(osd_id)
        return {"removed": osd_id, "node": node, "stopped": stopped}

    def osd_add(args: dict[str, Any]) -> dict[str, Any]:
        node = _text(args, "node")
        size = parse_size(args.get("size", "1G"), "size")
        objectstore = _text(args, "objectstore", "memstore")
        job = {"action": "add", "size": size, "objectstore": objectstore, "device": _optional_text(args, "device")}
        return dict(service.node_job(node, job, timeout=float(_int(args, "timeout", 120, low=1) or 120)))

    # -- pools ----------------------------------------------------------------------------------------------

    def pool_list(args: dict[str, Any]) -> list[dict[str, Any]]:
        return [asdict(p) for p in driver.pools()]

    def pool_add(args: dict[str, Any]) -> dict[str, Any]:
        replicas = _int(args, "replicas", 3, low=1)
        min_replicas = _int(args, "min_replicas", min(2, replicas or 1), low=1)
        assert replicas is not None and min_replicas is not None
        pool = driver.add_pool(_text(args, "name"), replicas, min_replicas, _int(args, "pgs", None, low=1))
        service.refresh_pools()
        return asdict(pool)

    def pool_set(args: dict[str, Any]) -> dict[str, Any]:
        pool = driver.set_pool(
            _text(args, "name"),
            _int(args, "replicas", None, low=1),
            _int(args, "min_replicas", None, low=1),
            _int(args, "pgs", None, low=1),
        )
        service.refresh_pools()
        return asdict(pool)

    def pool_remove(args: dict[str, Any]) -> dict[str, Any]:
        name = _text(args, "name")
        if not args.get("yes"):
            raise InvalidRequest(f"removing pool {name} destroys every volume in it; confirm it (--yes)", field="yes")
        if name not in {p.name for p in driver.pools()}:
            raise NotFound(f"no pool named '{name}'")
        users = _vms_using(vms(), name)
        if users:
            raise Conflict(f"cannot remove pool {name}: VM {_names(users)} has volumes in it")
        driver.remove_pool(name)
        index.forget_pool(name)
        service.refresh_pools()
        return {"removed": name}

    # -- volumes --------------------------------------------------------------------------------------------

    def volume_list(args: dict[str, Any]) -> list[dict[str, Any]]:
        pool = _optional_text(args, "pool")
        if pool is not None and pool not in {p["name"] for p in index.pools()}:
            raise NotFound(f"no pool named '{pool}'")
        listed = index.volumes(pool)
        users: dict[str, list[str]] = {}
        for vm in vms():
            for volume in vm.volumes:
                users.setdefault(volume.ref, []).append(vm.name)
        return [{**v, "vms": sorted(users.get(f"{v['pool']}/{v['name']}", []))} for v in listed]

    def volume_info(args: dict[str, Any]) -> dict[str, Any]:
        pool, name = _text(args, "pool"), _text(args, "name")
        volume = driver.volume(pool, name)
        snapshots = driver.snapshots(pool, name)
        users = _vms_using(vms(), pool, name)
        return {**asdict(volume), "snapshots": len(snapshots), "vms": sorted(vm.name for vm in users)}

    def volume_add(args: dict[str, Any]) -> dict[str, Any]:
        pool, name = _text(args, "pool"), _text(args, "name")
        volume = driver.add_volume(pool, name, parse_size(args.get("size"), "size"))
        index.update_volume(pool, name, volume)
        return asdict(volume)

    def volume_resize(args: dict[str, Any]) -> dict[str, Any]:
        pool, name = _text(args, "pool"), _text(args, "name")
        volume = driver.resize_volume(pool, name, parse_size(args.get("size"), "size"), bool(args.get("yes")))
        index.update_volume(pool, name, volume)
        return asdict(volume)

    def volume_rename(args: dict[str, Any]) -> dict[str, Any]:
        pool, name, new_name = _text(args, "pool"), _text(args, "name"), _text(args, "new_name")
        refuse_if_used(pool, name, "rename")
        volume = driver.rename_volume(pool, name, new_name)
        index.update_volume(pool, new_name, volume, old_name=name)
        return asdict(volume)

    def volume_clone(args: dict[str, Any]) -> dict[str, Any]:
        pool, name, new_name = _text(args, "pool"), _text(args, "name"), _text(args, "new_name")
        new_pool = _optional_text(args, "new_pool")
        volume = driver.clone_volume(pool, name, new_name, new_pool, _optional_text(args, "snapshot"))
        index.update_volume(volume.pool, volume.name, volume)
        return asdict(volume)

    def volume_remove(args: dict[str, Any]) -> dict[str, Any]:
        pool, name = _text(args, "pool"), _text(args, "name")
        refuse_if_used(pool, name, "remove")
        driver.remove_volume(pool, name)
        index.update_volume(pool, name, None)
        return {"removed": f"{pool}/{name}"}

    def volume_write(args: dict[str, Any]) -> dict[str, Any]:
        """One piece of an upload: ``data`` (base64, at most 256 KiB) at ``offset``."""
        pool, name = _text(args, "pool"), _text(args, "name")
        offset = _int(args, "offset", 0)
        assert offset is not None
        try:
            data = base64.b64decode(str(args.get("data", "")), validate=True)
        except ValueError as exc:
            raise InvalidRequest(f"data: not base64: {exc}", field="data") from exc
        if len(data) > CHUNK_LIMIT:
            raise InvalidRequest(f"data: at most {CHUNK_LIMIT} bytes a call, not {len(data)}", field="data")
        driver.write_volume(pool, name, offset, data)
        return {"written": len(data)}

    def volume_read(args: dict[str, Any]) -> dict[str, Any]:
        """One piece of a download: up to 256 KiB at ``offset`` (``zero``: it reads as zeroes)."""
        pool, name = _text(args, "pool"), _text(args, "name")
        offset = _int(args, "offset", 0)
        length = _int(args, "length", CHUNK_LIMIT, low=1)
        assert offset is not None and length is not None
        data = driver.read_volume(pool, name, offset, min(length, CHUNK_LIMIT))
        if data.count(0) == len(data):
            return {"length": len(data), "zero": True}
        return {"length": len(data), "data": base64.b64encode(data).decode()}

    # -- snapshots ------------------------------------------------------------------------------------------

    def snapshot_list(args: dict[str, Any]) -> list[dict[str, Any]]:
        return [asdict(s) for s in driver.snapshots(_text(args, "pool"), _text(args, "volume"))]

    def snapshot_add(args: dict[str, Any]) -> dict[str, Any]:
        return asdict(driver.add_snapshot(_text(args, "pool"), _text(args, "volume"), _text(args, "name")))

    def snapshot_rename(args: dict[str, Any]) -> dict[str, Any]:
        pool, volume = _text(args, "pool"), _text(args, "volume")
        return asdict(driver.rename_snapshot(pool, volume, _text(args, "name"), _text(args, "new_name")))

    def snapshot_remove(args: dict[str, Any]) -> dict[str, Any]:
        pool, volume, name = _text(args, "pool"), _text(args, "volume"), _text(args, "name")
        driver.remove_snapshot(pool, volume, name)
        return {"removed": f"{pool}/{volume}@{name}"}

    def snapshot_rollback(args: dict[str, Any]) -> dict[str, Any]:
        pool, volume, name = _text(args, "pool"), _text(args, "volume"), _text(args, "name")
        running = [vm for vm in _vms_using(vms(), pool, volume) if vm.state not in STOPPED or vm.observed == "running"]
        if running:
            raise Conflict(f"cannot roll {pool}/{volume} back while VM {_names(running)} runs: stop it first")
        driver.rollback_snapshot(pool, volume, name)
        return {"rolled_back": f"{pool}/{volume}@{name}"}

    return {
        "status": status,
        "util": util,
        "osd.list": osd_list,
        "osd.in": osd_in,
        "osd.out": osd_out,
        "osd.set": osd_set,
        "osd.unset": osd_unset,
        "osd.add": osd_add,
        "osd.remove": osd_remove,
        "pool.list": pool_list,
        "pool.add": pool_add,
        "pool.set": pool_set,
        "pool.remove": pool_remove,
        "volume.list": volume_list,
        "volume.info": volume_info,
        "volume.add": volume_add,
        "volume.resize": volume_resize,
        "volume.rename": volume_rename,
        "volume.clone": volume_clone,
        "volume.remove": volume_remove,
        "volume.write": volume_write,
        "volume.read": volume_read,
        "snapshot.list": snapshot_list,
        "snapshot.add": snapshot_add,
        "snapshot.rename": snapshot_rename,
        "snapshot.remove": snapshot_remove,
        "snapshot.rollback": snapshot_rollback,
    }
