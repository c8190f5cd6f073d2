"""The plugin: module-level hook implementations, registered as the ``pvc.plugins`` entry point ``template``.

pvcd imports this module only when the node config enables the plugin (``plugins: {enable: [template]}``)
and registers the module itself with pluggy. Each function below implements the hook of the same name in
:mod:`pvc_core.hookspecs` (read it: it says when each hook is called, on which thread, and what happens
when it raises). Mark every implementation with ``@hookimpl``; a function whose name matches no hook is
refused at start, so a typo cannot go unnoticed.

An implementation may accept any subset of the hook's arguments (``pvc_config_sections`` takes none,
``pvc_become_primary`` takes ``host`` and ``epoch``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pvc_core import hookimpl
from pvc_core.config import ConfigSection
from pvc_core.log import get_logger
from pvc_core.zk.schema import Schema
from pvc_core.zk.session import encode
from pvc_plugin_template.config import SECTION, TemplateConfig

if TYPE_CHECKING:
    from pvc_core.api_context import ApiContext
    from pvc_core.host import Host
    from pvc_core.vms.model import VmRecord

# The range of PVC plugin contracts this plugin was written for (pvc_core.contract); pvcd refuses to load
# it into a pvc-core whose CONTRACT_VERSION is outside it.
PVC_CONTRACT = ">=2.0,<3"

# The plugin's name (its entry-point name): used in log lines.
PLUGIN = "template"

# Everything a plugin keeps in ZooKeeper lives under /plugins/<plugin name>.
ROOT = "/plugins/template"
PRIMARY = f"{ROOT}/primary"
VM_NAMES = f"{ROOT}/vm-names"  # the cluster's VM names, kept by the primary from the cluster-level VM hooks


@hookimpl
def pvc_config_sections() -> list[ConfigSection]:
    """Declare the ``template`` section; pvcd validates it and serves it as host.config.section()."""
    return [ConfigSection(SECTION, TemplateConfig)]


@hookimpl
def pvc_zk_schema() -> Schema:
    """Declare the subtree this plugin owns; the primary coordinator creates the paths.

    When the layout of your data changes, raise ``version`` and add a ``Migration`` (see
    :mod:`pvc_core.zk.schema`); nodes running older code then refuse to start against the newer tree.
    """
    return Schema(owner=PLUGIN, version=1, paths=(ROOT,))


@hookimpl
def pvc_daemon_start(host: Host) -> None:
    """The node is registered and about to run: a place to start your own threads."""
    config: TemplateConfig = host.config.section(SECTION)
    log = get_logger(plugin=PLUGIN, node=host.node)
    log.info("template_started", greeting=config.greeting)


@hookimpl
def pvc_become_primary(host: Host, epoch: int) -> None:
    """This node became the primary coordinator: record who and in which epoch.

    Runs on the dispatcher thread, so it must return quickly. Writes that must not happen once another
    node took over should use ``host.primary_transaction()`` instead of plain writes.
    """
    value = encode({"node": host.node, "epoch": epoch})
    host.zk.put(PRIMARY, value)  # created (with its parents) on the first takeover, overwritten on the next
    # VM events are not replayed to a new primary: derived state is rebuilt from a full read here
    _write_vm_names(host, {vm.name for vm in host.cluster.vms.list()})


def _write_vm_names(host: Host, names: set[str]) -> None:
    value = encode(sorted(names))
    host.zk.put(VM_NAMES, value)


def _vm_names(host: Host) -> set[str]:
    return set(host.zk.get_json(VM_NAMES) or [])


@hookimpl
def pvc_vm_defined(host: Host, vm: VmRecord) -> None:
    """A VM was defined (on the primary, dispatcher thread): what a DNS or address plugin would publish."""
    _write_vm_names(host, _vm_names(host) | {vm.name})


@hookimpl
def pvc_vm_renamed(host: Host, vm: VmRecord, old_name: str) -> None:
    _write_vm_names(host, (_vm_names(host) - {old_name}) | {vm.name})


@hookimpl
def pvc_vm_removed(host: Host, vm: VmRecord) -> None:
    _write_vm_names(host, _vm_names(host) - {vm.name})


@hookimpl
def pvc_api_blueprints(api: ApiContext) -> list[Any]:
    """An API route of the plugin's own: GET /api/v1/plugins/template/hello (pvcapid only).

    ``api`` carries what the routes need: ``api.cluster`` (pvcapid's cluster client), ``api.config()``
    (this plugin's section of pvcapid.yaml) and ``api.log``. The routes keep it in their closure.
    """
    from flask import Blueprint, jsonify

    blueprint = Blueprint("template", __name__)
    config: TemplateConfig = api.config(SECTION)

    @blueprint.get("/hello")
    def hello() -> Any:
        """The template's greeting, and how many nodes the cluster has."""
        return jsonify({"greeting": config.greeting, "nodes": len(api.cluster.nodes())})

    return [blueprint]
