"""The storage routes of the HTTP API, under ``/api/v1/plugins/storage`` (pvcapid only imports this module).

Each route is the same plugin action ``pvc storage ...`` asks for (:mod:`pvc_storage_ceph.actions`),
carried out by the primary coordinator through ``api.cluster.plugin_call``; the action's errors come back
in the API's error shape (404 for an unknown pool or volume, 409 for a name in use or a volume a VM uses,
400 naming the field for bad input).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, jsonify, request

from pvc_core.errors import InvalidRequest

if TYPE_CHECKING:
    from pvc_core.api_context import ApiContext


def blueprint(api: ApiContext, plugin: str) -> Blueprint:
    routes = Blueprint("storage", __name__)

    def call(action: str, **args: Any) -> Any:
        return jsonify(api.cluster.plugin_call(plugin, action, {k: v for k, v in args.items() if v is not None}))

    def body() -> dict[str, Any]:
        found = request.get_json(silent=True) if request.data else {}
        if not isinstance(found, dict):
            raise InvalidRequest("the request body must be a JSON object", field="body")
        return found

    def yes() -> bool:
        return request.args.get("yes", "").lower() in ("1", "true", "yes")

    # -- the cluster and OSDs -----------------------------------------------------------------------------

    @routes.get("/status")
    def status() -> Any:
        """Ceph's health (with its own checks), capacity, PG states, OSD counts and flags."""
        return call("status")

    @routes.get("/util")
    def util() -> Any:
        """Per pool: stored, used and available bytes, objects."""
        return call("util")

    @routes.get("/osd")
    def osd_list() -> Any:
        """Every OSD: id, node, up, in, weight, size, used."""
        return call("osd.list")

    @routes.post("/osd/<int:osd_id>/in")
    def osd_in(osd_id: int) -> Any:
        """Mark an OSD in: it takes data again."""
        return call("osd.in", ids=[osd_id])

    @routes.post("/osd/<int:osd_id>/out")
    def osd_out(osd_id: int) -> Any:
        """Mark an OSD out: its data moves to the others."""
        return call("osd.out", ids=[osd_id])

    @routes.post("/osd")
    def osd_add() -> Any:
        """Add an OSD on a node, run by its pvcd: body {node, size ("1G"), objectstore ("memstore" or
        "bluestore"), device (bluestore: an empty disk, partition or file of that node)}."""
        return call("osd.add", **body())

    @routes.delete("/osd/<int:osd_id>")
    def osd_remove(osd_id: int) -> Any:
        """Remove an OSD for good (?yes=true); refused while the others cannot hold its data."""
        return call("osd.remove", id=osd_id, yes=yes())

    @routes.put("/osd/flags/<flag>")
    def osd_set(flag: str) -> Any:
        """Set a cluster flag (noout, noin, norebalance...); answers the flags now set."""
        return call("osd.set", flag=flag)

    @routes.delete("/osd/flags/<flag>")
    def osd_unset(flag: str) -> Any:
        """Unset a cluster flag; answers the flags now set."""
        return call("osd.unset", flag=flag)

    # -- pools ----------------------------------------------------------------------------------------------

    @routes.get("/pool")
    def pool_list() -> Any:
        """Every pool VM volumes may live in: replicas, minimum, PGs, usage."""
        return call("pool.list")

    @routes.post("/pool")
    def pool_add() -> Any:
        """Add a pool: body {name, replicas (3), min_replicas (2), pgs (none: autoscale)}."""
        return call("pool.add", **body())

    @routes.patch("/pool/<name>")
    def pool_set(name: str) -> Any:
        """Change a pool: body {replicas, min_replicas, pgs}, each optional."""
        return call("pool.set", **{**body(), "name": name})

    @routes.delete("/pool/<name>")
    def pool_remove(name: str) -> Any:
        """Remove a pool and its volumes (?yes=true); refused while a VM has a volume in it."""
        return call("pool.remove", name=name, yes=yes())

    # -- volumes --------------------------------------------------------------------------------------------

    @routes.get("/volume")
    def volume_list() -> Any:
        """Every volume (?pool= for one pool's): size, parent, the VMs that use it."""
        return call("volume.list", pool=request.args.get("pool"))

    @routes.post("/volume")
    def volume_add() -> Any:
        """Add an empty volume: body {pool, name, size ("10G" or bytes)}."""
        return call("volume.add", **body())

    @routes.get("/volume/<pool>/<name>")
    def volume_info(pool: str, name: str) -> Any:
        """One volume: size, parent, snapshots, the VMs that use it."""
        return call("volume.info", pool=pool, name=name)

    @routes.patch("/volume/<pool>/<name>")
    def volume_change(pool: str, name: str) -> Any:
        """Resize (body {size, yes: true to shrink}) or rename (body {new_name}) a volume."""
        changes = body()
        if "new_name" in changes:
            return call("volume.rename", pool=pool, name=name, new_name=changes["new_name"])
        return call("volume.resize", pool=pool, name=name, size=changes.get("size"), yes=bool(changes.get("yes")))

    @routes.post("/volume/<pool>/<name>/clone")
    def volume_clone(pool: str, name: str) -> Any:
        """Clone a volume: body {new_name, new_pool, snapshot}."""
        return call("volume.clone", **{**body(), "pool": pool, "name": name})

    @routes.delete("/volume/<pool>/<name>")
    def volume_remove(pool: str, name: str) -> Any:
        """Remove a volume and its snapshots; refused while a VM uses it."""
        return call("volume.remove", pool=pool, name=name)

    # -- snapshots ------------------------------------------------------------------------------------------

    @routes.get("/volume/<pool>/<name>/snapshot")
    def snapshot_list(pool: str, name: str) -> Any:
        """A volume's snapshots, oldest first."""
        return call("snapshot.list", pool=pool, volume=name)

    @routes.post("/volume/<pool>/<name>/snapshot")
    def snapshot_add(pool: str, name: str) -> Any:
        """Take a snapshot: body {name}."""
        return call("snapshot.add", pool=pool, volume=name, name=body().get("name"))

    @routes.patch("/volume/<pool>/<name>/snapshot/<snapshot>")
    def snapshot_rename(pool: str, name: str, snapshot: str) -> Any:
        """Rename a snapshot: body {new_name}."""
        return call("snapshot.rename", pool=pool, volume=name, name=snapshot, new_name=body().get("new_name"))

    @routes.delete("/volume/<pool>/<name>/snapshot/<snapshot>")
    def snapshot_remove(pool: str, name: str, snapshot: str) -> Any:
        """Remove a snapshot."""
        return call("snapshot.remove", pool=pool, volume=name, name=snapshot)

    @routes.post("/volume/<pool>/<name>/snapshot/<snapshot>/rollback")
    def snapshot_rollback(pool: str, name: str, snapshot: str) -> Any:
        """Put the volume back to the snapshot; refused while its VM runs."""
        return call("snapshot.rollback", pool=pool, volume=name, name=snapshot)

    return routes
