"""A typed facade over ``pm.hook``: the rest of the code never calls hooks by string.

Each implementation is called on its own, so one plugin that raises neither hides the others' results
nor stops the caller; the error is logged with the plugin, the hook and the event.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

import pluggy

from pvc_core.config import ConfigSection
from pvc_core.errors import PluginError, PvcError, StartRefused
from pvc_core.log import get_logger
from pvc_core.vms.attachments import KINDS
from pvc_core.vms.devices import Contribution, DomainDevice
from pvc_core.zk import paths

if TYPE_CHECKING:
    from pvc_core.api_context import ApiContext
    from pvc_core.dispatch import Watch, ZkEvent
    from pvc_core.host import Host
    from pvc_core.metrics import Gauge
    from pvc_core.nodes import NodeRecord
    from pvc_core.roles.network import Network
    from pvc_core.vms.model import VmRecord
    from pvc_core.zk.schema import Schema


class Hooks:
    def __init__(self, pm: pluggy.PluginManager) -> None:
        self.pm = pm

    # -- plumbing ----------------------------------------------------------------------------------------

    def _impls(self, hook: str) -> list[Any]:
        # pluggy calls implementations last-registered first; keep that order
        return list(reversed(getattr(self.pm.hook, hook).get_hookimpls()))

    def _call(self, impl: Any, kwargs: dict[str, Any]) -> Any:
        return impl.function(**{name: kwargs[name] for name in impl.argnames})

    def collect(self, hook: str, /, **kwargs: Any) -> list[tuple[str, Any]]:
        """Call every implementation of a data hook; an exception becomes a PluginError naming the plugin."""
        results = []
        for impl in self._impls(hook):
            try:
                result = self._call(impl, kwargs)
            except Exception as exc:
                raise PluginError(f"plugin '{impl.plugin_name}' failed in {hook}: {type(exc).__name__}: {exc}") from exc
            if result is not None:
                results.append((impl.plugin_name, result))
        return results

    def _isolated(self, hook: str, event: str, kwargs: dict[str, Any]) -> list[tuple[str, Exception]]:
        """Call every implementation on its own; log and collect what each raised, by plugin."""
        failed = []
        for impl in self._impls(hook):
            try:
                self._call(impl, kwargs)
            except Exception as exc:  # noqa: BLE001 - a plugin's failure is isolated and logged
                failed.append((impl.plugin_name, exc))
                get_logger(plugin=impl.plugin_name, hook=hook, on_event=event).exception("hook_failed")
        return failed

    def notify(self, hook: str, event: str, /, **kwargs: Any) -> list[str]:
        """Call every implementation of a notification hook, isolated; return the plugins that raised."""
        return [plugin for plugin, _exc in self._isolated(hook, event, kwargs)]

    # -- start-up ----------------------------------------------------------------------------------------

    def config_sections(self, plugins: Collection[str] | None = None) -> list[ConfigSection]:
        """Every plugin's sections; ``plugins``: only these plugins' (pvcapid: those its config enables)."""
        sections: list[ConfigSection] = []
        for plugin, result in self.collect("pvc_config_sections"):
            if plugins is not None and plugin not in plugins:
                continue
            for section in result:
                if not isinstance(section, ConfigSection):
                    raise PluginError(f"plugin '{plugin}': pvc_config_sections must return ConfigSection objects")
                sections.append(section)
        return sections

    def zk_schemas(self) -> list[Schema]:
        schemas = []
        for plugin, schema in self.collect("pvc_zk_schema"):
            root = paths.plugin_root(schema.owner)
            outside = [p for p in schema.paths if p != root and not p.startswith(root + "/")]
            if outside:
                raise PluginError(f"plugin '{plugin}': schema path {outside[0]} is outside its subtree {root}")
            schemas.append(schema)
        return schemas

    def zk_watches(self, host: Host) -> list[tuple[str, Watch]]:
        return [(plugin, watch) for plugin, watches in self.collect("pvc_zk_watches", host=host) for watch in watches]

    def node_resources(self, host: Host) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        # registration order (builtins first): a plugin's values override the builtins'
        for impl in self.pm.hook.pvc_node_resources.get_hookimpls():
            try:
                result = self._call(impl, {"host": host})
            except Exception:  # noqa: BLE001 - a plugin's failure is isolated and logged
                get_logger(plugin=impl.plugin_name, hook="pvc_node_resources").exception("hook_failed")
                continue
            if result:
                merged.update(result)
        return merged

    def node_attachments(self, host: Host) -> dict[str, dict[str, str]]:
        """What this node offers to attach, kind -> key -> plugin; a plugin that raises is left out."""
        merged: dict[str, dict[str, str]] = {}
        for impl in self.pm.hook.pvc_node_attachments.get_hookimpls():
            try:
                result = self._call(impl, {"host": host})
                offers = {str(kind): [str(key) for key in keys] for kind, keys in (result or {}).items()}
            except Exception:  # noqa: BLE001 - a plugin's failure is isolated and logged
                get_logger(plugin=impl.plugin_name, hook="pvc_node_attachments").exception("hook_failed")
                continue
            for kind, keys in offers.items():
                if kind not in KINDS:
                    get_logger(plugin=impl.plugin_name, hook="pvc_node_attachments").warning(
                        "unknown_attachment_kind", kind=kind
                    )
                    continue
                for key in keys:
                    merged.setdefault(kind, {})[key] = impl.plugin_name
        return merged

    # -- VMs on this node (VM-manager workers) -------------------------------------------------------------

    def vm_prepare(self, host: Host, vm: VmRecord, purpose: str) -> list[Contribution]:
        """Every plugin's devices for ``vm``; the first failure is raised as a PvcError naming the plugin
        (the caller, ``Host.prepare_vm``, releases what the others prepared)."""
        contributions: list[Contribution] = []
        for impl in self._impls("pvc_vm_prepare"):
            try:
                devices = self._call(impl, {"host": host, "vm": vm, "purpose": purpose}) or []
                if not isinstance(devices, list | tuple) or not all(isinstance(d, DomainDevice) for d in devices):
                    raise PluginError("pvc_vm_prepare must return a list of DomainDevice")
            except Exception as exc:
                raise PluginError(
                    f"plugin '{impl.plugin_name}' could not prepare VM {vm.name}: {_reason(exc)}"
                ) from exc
            contributions.append(Contribution(impl.plugin_name, tuple(devices)))
        return contributions

    def vm_release(self, host: Host, vm: VmRecord, purpose: str) -> list[str]:
        return self.notify("pvc_vm_release", f"release VM {vm.name} ({purpose})", host=host, vm=vm, purpose=purpose)

    # -- VMs in the cluster (primary) ----------------------------------------------------------------------

    def vm_defined(self, host: Host, vm: VmRecord) -> None:
        self.notify("pvc_vm_defined", f"VM {vm.name} defined", host=host, vm=vm)

    def vm_modified(self, host: Host, old: VmRecord, new: VmRecord) -> None:
        self.notify("pvc_vm_modified", f"VM {new.name} modified", host=host, old=old, new=new)

    def vm_renamed(self, host: Host, vm: VmRecord, old_name: str) -> None:
        self.notify("pvc_vm_renamed", f"VM {old_name} renamed {vm.name}", host=host, vm=vm, old_name=old_name)

    def vm_removed(self, host: Host, vm: VmRecord) -> None:
        self.notify("pvc_vm_removed", f"VM {vm.name} removed", host=host, vm=vm)

    def network_changed(self, host: Host, vni: int, old: Network | None, new: Network | None) -> None:
        what = "added" if old is None else "removed" if new is None else "changed"
        self.notify("pvc_network_changed", f"network {vni} {what}", host=host, vni=vni, old=old, new=new)

    def network_leases_changed(self, host: Host, vni: int) -> None:
        self.notify("pvc_network_leases_changed", f"leases of network {vni} changed", host=host, vni=vni)

    def node_fenced(self, host: Host, node: str, epoch: int) -> list[str]:
        """Every implementation, isolated; return one line per plugin that failed, with its reason."""
        failed = self._isolated("pvc_node_fenced", f"node {node} fenced", {"host": host, "node": node, "epoch": epoch})
        return [f"plugin '{plugin}' could not fence {node}'s clients: {_reason(exc)}" for plugin, exc in failed]

    # -- actions clients ask of plugins (the primary carries them out) --------------------------------------

    def plugin_actions(self, host: Host) -> dict[str, dict[str, Callable[[dict[str, Any]], Any]]]:
        """Each plugin's actions by name; a table that is not name -> callable is a PluginError naming it."""
        tables: dict[str, dict[str, Callable[[dict[str, Any]], Any]]] = {}
        for plugin, table in self.collect("pvc_plugin_actions", host=host):
            if not isinstance(table, dict) or not all(isinstance(k, str) and callable(v) for k, v in table.items()):
                raise PluginError(f"plugin '{plugin}' returned from pvc_plugin_actions something not name -> function")
            tables[plugin] = dict(table)
        return tables

    # -- the HTTP API (pvcapid) ------------------------------------------------------------------------------

    def api_blueprints(self, api: ApiContext) -> list[tuple[str, list[Any]]]:
        """Each plugin's Flask blueprints, by plugin; an exception becomes a PluginError naming the plugin."""
        return [(plugin, list(found)) for plugin, found in self.collect("pvc_api_blueprints", api=api)]

    def api_metrics(self, api: ApiContext) -> list[Gauge]:
        """Every plugin's gauges, each plugin isolated: one that raises is logged and left out."""
        gauges: list[Gauge] = []
        for impl in self._impls("pvc_api_metrics"):
            try:
                found = list(self._call(impl, {"api": api}) or [])
            except Exception:  # noqa: BLE001 - a plugin's failure is isolated and logged
                get_logger(plugin=impl.plugin_name, hook="pvc_api_metrics").exception("hook_failed")
                continue
            gauges.extend(found)
        return gauges

    # -- notifications -----------------------------------------------------------------------------------

    def daemon_start(self, host: Host) -> None:
        """Each implementation on its own; :class:`StartRefused` from one stops the start (PluginError)."""
        for impl in self._impls("pvc_daemon_start"):
            try:
                self._call(impl, {"host": host})
            except StartRefused as exc:
                raise PluginError(f"plugin '{impl.plugin_name}' refused to start: {exc}") from exc
            except Exception:  # noqa: BLE001 - a plugin's failure is isolated and logged
                get_logger(plugin=impl.plugin_name, hook="pvc_daemon_start", on_event="daemon start").exception(
                    "hook_failed"
                )

    def daemon_stop(self, host: Host) -> None:
        self.notify("pvc_daemon_stop", "daemon stop", host=host)

    def become_primary(self, host: Host, epoch: int) -> None:
        self.notify("pvc_become_primary", f"primary epoch {epoch}", host=host, epoch=epoch)

    def become_secondary(self, host: Host, epoch: int) -> None:
        self.notify("pvc_become_secondary", f"secondary after epoch {epoch}", host=host, epoch=epoch)

    def node_changed(self, host: Host, name: str, old: NodeRecord | None, new: NodeRecord | None) -> None:
        self.notify("pvc_node_changed", f"node {name} changed", host=host, name=name, old=old, new=new)

    def liveness_changed(
        self, host: Host, alive: frozenset[str], appeared: frozenset[str], vanished: frozenset[str]
    ) -> None:
        self.notify(
            "pvc_liveness_changed", "liveness changed", host=host, alive=alive, appeared=appeared, vanished=vanished
        )

    def zk_event(self, host: Host, event: ZkEvent) -> None:
        self.notify("pvc_zk_event", f"{event.name} {event.path}", host=host, event=event)

    def session_changed(self, host: Host, state: str) -> None:
        self.notify("pvc_session_changed", f"session {state}", host=host, state=state)


def _reason(exc: BaseException) -> str:
    """A plugin's exception as the tail of a one-line error: our own errors as they are, others typed."""
    return str(exc) if isinstance(exc, PvcError) else f"{type(exc).__name__}: {exc}"
