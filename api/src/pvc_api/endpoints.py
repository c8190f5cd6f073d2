"""Every endpoint of /api/v1, in the same words as ``pvc``. Each calls the same client library as the CLI."""

from __future__ import annotations

import json
import time
from typing import Any

from flask import Response, current_app, g

from pvc_api import models as m
from pvc_api.registry import Registry, ResponseCache
from pvc_core import __version__
from pvc_core.client import Cluster
from pvc_core.errors import NotFound

api = Registry()
route = api.route


@route("GET", "/", "API name and version", "api", response=m.Version, public=True, errors=())
def version(cluster: Cluster) -> dict[str, Any]:
    return {"name": "pvc", "api": "v1", "version": __version__}


# -- cluster ----------------------------------------------------------------------------------------------


@route("GET", "/cluster", "Health, primary coordinator, node states, faults", "cluster", response=m.ClusterStatus)
def cluster_status(cluster: Cluster) -> dict[str, Any]:
    return cluster.status().to_dict()


@route(
    "PUT",
    "/cluster/maintenance",
    "Maintenance mode on or off (no fencing while on)",
    "cluster",
    body=m.Maintenance,
    response=m.Maintenance,
)
def maintenance(cluster: Cluster, body: m.Maintenance) -> dict[str, Any]:
    cluster.set_maintenance(body.on)
    return {"on": body.on}


@route("DELETE", "/cluster/faults/<node>", "Clear the fault about a node", "cluster", response={"type": "object"})
def clear_fault(cluster: Cluster, node: str) -> dict[str, Any]:
    cluster.clear_fault(node)
    return {"cleared": node}


@route(
    "GET",
    "/cluster/audit",
    "The last mutating requests the API answered",
    "cluster",
    query=m.AuditQuery,
    response=[m.AuditEntry],
)
def audit(cluster: Cluster, query: m.AuditQuery) -> list[dict[str, Any]]:
    return cluster.audit.read(query.lines)


# -- API keys (admin keys only) -----------------------------------------------------------------------------


@route("GET", "/api-keys", "API keys: name, role, when and by whom (never the key)", "keys", response=[m.ApiKey])
def api_keys(cluster: Cluster) -> list[dict[str, Any]]:
    return [k.to_dict() for k in cluster.api_keys.list()]


@route(
    "POST",
    "/api-keys",
    "Make an API key (shown once)",
    "keys",
    body=m.ApiKeyAdd,
    response=m.ApiKeyMade,
    status=201,
    errors=(400, 409),
)
def api_key_add(cluster: Cluster, body: m.ApiKeyAdd) -> dict[str, Any]:
    key = cluster.api_keys.add(body.name, body.role, by=str(g.get("key_name") or ""))
    made = next(k for k in cluster.api_keys.list() if k.name == body.name)
    return {**made.to_dict(), "key": key}


@route("DELETE", "/api-keys/<name>", "Remove an API key made with POST /api-keys", "keys", response={"type": "object"})
def api_key_remove(cluster: Cluster, name: str) -> dict[str, Any]:
    cluster.api_keys.remove(name)
    return {"removed": name}


# -- nodes ------------------------------------------------------------------------------------------------


@route("GET", "/node", "Every node", "nodes", response=[m.Node])
def nodes(cluster: Cluster) -> list[dict[str, Any]]:
    return [view.to_dict() for view in cluster.nodes()]


@route("GET", "/node/<name>", "One node", "nodes", response=m.Node)
def node(cluster: Cluster, name: str) -> dict[str, Any]:
    return cluster.node(name).to_dict()


@route(
    "POST", "/node/<name>/primary", "Make a coordinator the primary", "nodes", body=m.Wait, response=m.Node, long=True
)
def node_primary(cluster: Cluster, name: str, body: m.Wait) -> dict[str, Any]:
    cluster.request_primary(name, wait=body.wait, timeout=body.timeout)
    return cluster.node(name).to_dict()


@route("POST", "/node/<name>/secondary", "Make the primary step back", "nodes", body=m.Wait, response=m.Node, long=True)
def node_secondary(cluster: Cluster, name: str, body: m.Wait) -> dict[str, Any]:
    cluster.request_secondary(name, wait=body.wait, timeout=body.timeout)
    return cluster.node(name).to_dict()


@route("POST", "/node/<name>/flush", "Move every VM off a node", "nodes", body=m.Wait, response=m.Node, long=True)
def node_flush(cluster: Cluster, name: str, body: m.Wait) -> dict[str, Any]:
    return cluster.flush(name, wait=body.wait, timeout=body.timeout).to_dict()


@route(
    "POST",
    "/node/<name>/ready",
    "Bring a node back from a flush or a fence",
    "nodes",
    body=m.Wait,
    response=m.Node,
    long=True,
)
def node_ready(cluster: Cluster, name: str, body: m.Wait) -> dict[str, Any]:
    return cluster.ready(name, wait=body.wait, timeout=body.timeout).to_dict()


@route(
    "POST",
    "/node/<name>/fence",
    "Fence a node now (power off through its BMC)",
    "nodes",
    body=m.Wait,
    response=m.Node,
    long=True,
)
def node_fence(cluster: Cluster, name: str, body: m.Wait) -> dict[str, Any]:
    return cluster.fence(name, wait=body.wait, timeout=body.timeout).to_dict()


# -- VMs ----------------------------------------------------------------------------------------------------


@route("GET", "/vm", "VMs, filtered by node, state or tag", "vms", query=m.VmFilter, response=[m.Vm])
def vms(cluster: Cluster, query: m.VmFilter) -> Response:
    # the VMs are read fresh every time; their JSON is built again only when a VM changed since
    records, version = cluster.vms.listing(node=query.node, state=query.state, tag=query.tag)
    cache: ResponseCache = current_app.extensions["pvc"]["listings"]
    body = cache.get(
        (query.node, query.state, query.tag, version),
        lambda: json.dumps([r.to_dict() for r in records], separators=(",", ":")).encode(),
    )
    return Response(body, mimetype="application/json")


@route(
    "POST",
    "/vm",
    "Define a VM from libvirt domain XML",
    "vms",
    body=m.VmDefine,
    response=m.Vm,
    status=201,
    errors=(400, 404, 409),
)
def vm_define(cluster: Cluster, body: m.VmDefine) -> dict[str, Any]:
    return cluster.vms.define(
        body.xml,
        target=body.target,
        limit=body.limit,
        selector=body.node_selector,
        autostart=body.autostart,
        migration_method=body.migration_method,
        max_downtime_ms=body.max_downtime,
        tags=body.tags,
        volumes=[v.model_dump() for v in body.volumes],
        networks=[n.model_dump() for n in body.networks],
    ).to_dict()


@route(
    "PUT",
    "/vm/<name>/attachments",
    "Replace a VM's volumes and networks (taking effect at its next start)",
    "vms",
    body=m.VmAttach,
    response=m.Vm,
    errors=(400, 404, 409),
)
def vm_attach(cluster: Cluster, name: str, body: m.VmAttach) -> dict[str, Any]:
    volumes = None if body.volumes is None else [v.model_dump() for v in body.volumes]
    networks = None if body.networks is None else [n.model_dump() for n in body.networks]
    return cluster.vms.attach(name, volumes=volumes, networks=networks).to_dict()


@route("GET", "/vm/<name>", "One VM", "vms", response=m.Vm)
def vm(cluster: Cluster, name: str) -> dict[str, Any]:
    return cluster.vms.get(name).to_dict()


@route("GET", "/vm/<name>/xml", "A VM's domain XML", "vms", response={"type": "object"})
def vm_dump(cluster: Cluster, name: str) -> dict[str, Any]:
    return {"xml": cluster.vms.dump(name)}


@route("PUT", "/vm/<name>/xml", "Replace a VM's domain XML", "vms", body=m.VmModify, response=m.Vm, long=True)
def vm_modify(cluster: Cluster, name: str, body: m.VmModify) -> dict[str, Any]:
    record = cluster.vms.modify(name, body.xml, restart=body.restart)
    if body.restart and body.wait:
        record = cluster.vms.wait(name, timeout=body.timeout)
    return record.to_dict()


@route("PATCH", "/vm/<name>/meta", "Change a VM's PVC metadata", "vms", body=m.VmMeta, response=m.Vm)
def vm_meta(cluster: Cluster, name: str, body: m.VmMeta) -> dict[str, Any]:
    return cluster.vms.meta(
        name,
        limit=body.limit,
        selector=body.node_selector,
        autostart=body.autostart,
        migration_method=body.migration_method,
        max_downtime_ms=body.max_downtime,
    ).to_dict()


@route(
    "POST", "/vm/<name>/rename", "Rename a stopped VM", "vms", body=m.VmRename, response=m.Vm, errors=(400, 404, 409)
)
def vm_rename(cluster: Cluster, name: str, body: m.VmRename) -> dict[str, Any]:
    return cluster.vms.rename(name, body.new_name).to_dict()


@route("DELETE", "/vm/<name>", "Remove a stopped VM's definition", "vms", response=m.Vm)
def vm_remove(cluster: Cluster, name: str) -> dict[str, Any]:
    return cluster.vms.remove(name).to_dict()


@route("POST", "/vm/<name>/tags", "Add and remove tags", "vms", body=m.VmTags, response=m.Vm)
def vm_tags(cluster: Cluster, name: str, body: m.VmTags) -> dict[str, Any]:
    return cluster.vms.tag(name, add=body.add, remove=body.remove).to_dict()


@route("GET", "/vm/<name>/log", "The last lines of a VM's serial console", "vms", query=m.LogQuery, response=m.Log)
def vm_log(cluster: Cluster, name: str, query: m.LogQuery) -> dict[str, Any]:
    return {"lines": list(next(iter(cluster.vms.console(name, lines=query.lines))))}


def _vm_done(cluster: Cluster, name: str, body: m.Wait) -> dict[str, Any]:
    return cluster.vms.wait(name, timeout=body.timeout).to_dict()


def _settled(cluster: Cluster, name: str, body: m.Wait) -> dict[str, Any]:
    if body.wait:
        return cluster.vms.wait(name, timeout=body.timeout).to_dict()
    return cluster.vms.get(name).to_dict()


@route(
    "POST",
    "/vm/<name>/state",
    "Start, shut down, stop, restart or disable a VM",
    "vms",
    body=m.VmState,
    response=m.Vm,
    long=True,
    errors=(400, 404, 409),
)
def vm_state(cluster: Cluster, name: str, body: m.VmState) -> dict[str, Any]:
    if body.state == "start":
        cluster.vms.start(name, body.target)
    else:
        getattr(cluster.vms, body.state)(name)
    return _settled(cluster, name, body)


@route(
    "POST",
    "/vm/<name>/migrate",
    "Migrate a running VM (live when its method allows)",
    "vms",
    body=m.VmMigrate,
    response=m.Vm,
    long=True,
    errors=(400, 404, 409),
)
def vm_migrate(cluster: Cluster, name: str, body: m.VmMigrate) -> dict[str, Any]:
    cluster.vms.migrate(name, body.target)
    return _settled(cluster, name, body)


@route(
    "POST",
    "/vm/<name>/unmigrate",
    "Move a migrated VM back",
    "vms",
    body=m.Wait,
    response=m.Vm,
    long=True,
    errors=(400, 404, 409),
)
def vm_unmigrate(cluster: Cluster, name: str, body: m.Wait) -> dict[str, Any]:
    cluster.vms.unmigrate(name)
    return _settled(cluster, name, body)


@route(
    "POST",
    "/vm/<name>/move",
    "Migrate a VM for good",
    "vms",
    body=m.VmMigrate,
    response=m.Vm,
    long=True,
    errors=(400, 404, 409),
)
def vm_move(cluster: Cluster, name: str, body: m.VmMigrate) -> dict[str, Any]:
    cluster.vms.move(name, body.target)
    return _settled(cluster, name, body)


# -- plugins ------------------------------------------------------------------------------------------------


@route(
    "GET",
    "/plugins",
    "Plugins loaded on the nodes and in pvcapid itself, with versions, hooks and API routes",
    "plugins",
    response=[m.Plugin],
)
def plugins(cluster: Cluster) -> list[dict[str, Any]]:
    on_nodes = cluster.plugins_by_node()
    in_api: dict[str, dict[str, Any]] = current_app.extensions["pvc"]["plugins"]
    listed = []
    for name in sorted(set(on_nodes) | set(in_api)):
        here, there = in_api.get(name), on_nodes.get(name)
        base = there or {"version": here["version"] if here else "", "hooks": [], "nodes": []}
        listed.append({"name": name, **base, "api": here})
    return listed


# -- plugins' data: what a plugin's pvc command reads and writes over the API ----------------------------

_MISSING = object()


@route(
    "GET",
    "/plugin-data/<plugin>",
    "The keys under a plugin's data (its top-level keys, or those under ?key=)",
    "plugins",
    query=m.PluginDataQuery,
    response={"type": "array", "items": {"type": "string"}},
)
def plugin_data_children(cluster: Cluster, plugin: str, query: m.PluginDataQuery) -> list[str]:
    return cluster.plugin_data(plugin).children(query.key)


@route("GET", "/plugin-data/<plugin>/<path:key>", "A value of a plugin's data", "plugins", response=m.PluginData)
def plugin_data_get(cluster: Cluster, plugin: str, key: str) -> dict[str, Any]:
    value = cluster.plugin_data(plugin).get(key, default=_MISSING)
    if value is _MISSING:  # a stored null is a value; no znode is not
        raise NotFound(f"plugin {plugin} has no data at key '{key}'")
    return {"plugin": plugin, "key": key, "value": value}


@route(
    "PUT",
    "/plugin-data/<plugin>/<path:key>",
    "Store a value of a plugin's data (created with its parents)",
    "plugins",
    body=m.PluginValue,
    response=m.PluginData,
)
def plugin_data_set(cluster: Cluster, plugin: str, key: str, body: m.PluginValue) -> dict[str, Any]:
    cluster.plugin_data(plugin).set(key, body.value)
    return {"plugin": plugin, "key": key, "value": body.value}


@route(
    "DELETE",
    "/plugin-data/<plugin>/<path:key>",
    "Remove a key of a plugin's data and every key under it",
    "plugins",
    response=m.PluginDataDeleted,
)
def plugin_data_delete(cluster: Cluster, plugin: str, key: str) -> dict[str, Any]:
    cluster.plugin_data(plugin).delete(key)
    return {"plugin": plugin, "key": key, "deleted": True}


# -- plugins' actions: what a plugin's pvc command asks the primary to do, over the API --------------------


@route(
    "POST",
    "/plugin-calls/<plugin>/<action>",
    "Ask the primary coordinator to carry out a plugin's action (pvc_plugin_actions) and answer its result",
    "plugins",
    body=m.PluginCall,
    response=m.PluginCallResult,
)
def plugin_call(cluster: Cluster, plugin: str, action: str, body: m.PluginCall) -> dict[str, Any]:
    result = cluster.plugin_call(plugin, action, body.args, timeout=body.timeout)
    return {"plugin": plugin, "action": action, "result": result}


# -- what the task waits for when a long request did not ask to wait -------------------------------------


def _primary_done(cluster: Cluster, name: str, body: m.Wait) -> dict[str, Any]:
    cluster.wait_for_primary(name, body.timeout)
    return cluster.node(name).to_dict()


def _secondary_done(cluster: Cluster, name: str, body: m.Wait) -> dict[str, Any]:
    cluster.wait_for_other_primary(name, body.timeout)
    return cluster.node(name).to_dict()


def _flush_done(cluster: Cluster, name: str, body: m.Wait) -> dict[str, Any]:
    return cluster.flush(name, wait=True, timeout=body.timeout).to_dict()  # already asked: only waits


def _ready_done(cluster: Cluster, name: str, body: m.Wait) -> dict[str, Any]:
    return cluster.ready(name, wait=True, timeout=body.timeout).to_dict()


def _fence_done(cluster: Cluster, name: str, body: m.Wait) -> dict[str, Any]:
    return cluster.wait_fenced(name, since=time.time() - 5, timeout=body.timeout).to_dict()


SETTLE = {
    "node_primary": _primary_done,
    "node_secondary": _secondary_done,
    "node_flush": _flush_done,
    "node_ready": _ready_done,
    "node_fence": _fence_done,
    "vm_modify": _vm_done,
    "vm_state": _vm_done,
    "vm_migrate": _vm_done,
    "vm_unmigrate": _vm_done,
    "vm_move": _vm_done,
}
for _endpoint in api.endpoints:
    _endpoint.settle = SETTLE.get(_endpoint.function.__name__)
