"""Loading plugins, in an explicit order: builtins -> installed entry points -> enable list -> check_pending.

* Builtins (``pvc_core.builtin``) are registered first, unless the node config's ``plugins.disable`` blocks
  them (a third-party plugin can then take their place).
* Installed distributions register plugins under the ``pvc.plugins`` entry-point group. Only those named
  in ``plugins.enable`` are imported: an installed plugin that is not enabled is never imported, so a
  broken one does no harm.
* An enabled plugin that is not installed or fails to import stops the daemon with one line naming it.
* ``check_pending()`` refuses hook implementations that match no hook of the contract (a typo).
* Every plugin loaded from an entry point, and every builtin, declares the contract range it supports
  (``PVC_CONTRACT``, see :mod:`pvc_core.contract`); one built for another contract is refused. Hook
  wrappers are refused for every registration: the kernel calls implementations one by one, isolated.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable
from dataclasses import dataclass
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import pluggy

from pvc_core import __version__, contract, hookspecs
from pvc_core.errors import PluginError
from pvc_core.nodes import PluginInfo

PLUGIN_GROUP = "pvc.plugins"
BUILTIN_PREFIX = "builtin."

# name -> module; each module is a plugin (module-level hook implementations)
BUILTINS: dict[str, str] = {
    "builtin.host-resources": "pvc_core.builtin.host_resources",
    "builtin.fence-monitor": "pvc_core.builtin.fence_monitor",
    "builtin.self-fence": "pvc_core.builtin.self_fence",
    "builtin.vm-manager": "pvc_core.builtin.vm_manager",
    "builtin.vm-console": "pvc_core.builtin.vm_console",
    "builtin.node-flush": "pvc_core.builtin.node_flush",
    "builtin.networks": "pvc_core.builtin.networks",
}


@dataclass(frozen=True)
class InstalledPlugin:
    """A plugin found through its entry point (not imported)."""

    name: str
    distribution: str
    version: str
    target: str


def installed_plugins() -> dict[str, InstalledPlugin]:
    """Plugins installed in this Python environment, by entry-point name, without importing them."""
    found: dict[str, InstalledPlugin] = {}
    for ep in entry_points(group=PLUGIN_GROUP):
        dist = ep.dist
        found[ep.name] = InstalledPlugin(
            name=ep.name,
            distribution=dist.name if dist is not None else "?",
            version=dist.version if dist is not None else "?",
            target=ep.value,
        )
    return found


def _entry_point(name: str) -> EntryPoint | None:
    for ep in entry_points(group=PLUGIN_GROUP, name=name):
        return ep
    return None


def new_plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager("pvc")
    pm.add_hookspecs(hookspecs)
    return pm


def _refuse_wrappers(plugin: Any, name: str) -> None:
    for attribute in dir(plugin):
        options = getattr(getattr(plugin, attribute, None), "pvc_impl", None)
        if isinstance(options, dict) and (options.get("wrapper") or options.get("hookwrapper")):
            raise PluginError(
                f"plugin '{name}': {attribute} is a hook wrapper; PVC calls each implementation on its own "
                "(isolated from the others), so wrappers are not supported"
            )


class PluginSet:
    """The plugins loaded in this process, with their versions."""

    def __init__(self, pm: pluggy.PluginManager | None = None) -> None:
        self.pm = pm if pm is not None else new_plugin_manager()
        self.versions: dict[str, str] = {}

    def register(self, plugin: Any, name: str, version: str) -> None:
        """Register an object or module as a plugin (tests use this for throwaway plugins)."""
        _refuse_wrappers(plugin, name)
        try:
            self.pm.register(plugin, name=name)
        except ValueError as exc:
            raise PluginError(f"plugin '{name}' cannot be registered: {exc}") from exc
        self.versions[name] = version

    def unregister(self, name: str) -> None:
        plugin = self.pm.get_plugin(name)
        if plugin is not None:
            self.pm.unregister(plugin, name=name)
        self.versions.pop(name, None)

    def load(self, enable: Iterable[str], disable: Iterable[str] = ()) -> None:
        enable, disable = list(enable), list(disable)
        both = sorted(set(enable) & set(disable))
        if both:
            raise PluginError(f"plugin '{both[0]}' is both enabled and disabled in the node config")
        for name in disable:
            self.pm.set_blocked(name)
        for name, module in BUILTINS.items():
            if not self.pm.is_blocked(name):
                builtin = importlib.import_module(module)
                contract.check(f"plugin '{name}'", getattr(builtin, "PVC_CONTRACT", None))
                self.register(builtin, name, __version__)
        for name in enable:
            if name.startswith(BUILTIN_PREFIX):
                raise PluginError(f"plugin '{name}': builtins are always loaded; list only installed plugins")
            ep = _entry_point(name)
            if ep is None:
                available = ", ".join(sorted(installed_plugins())) or "none"
                raise PluginError(f"plugin '{name}' is enabled but not installed (installed: {available})")
            try:
                plugin = ep.load()
            except Exception as exc:
                raise PluginError(f"plugin '{name}' failed to load: {type(exc).__name__}: {exc}") from exc
            version = ep.dist.version if ep.dist is not None else "?"
            contract.check(f"plugin '{name}' ({ep.value})", getattr(plugin, "PVC_CONTRACT", None))
            self.register(plugin, name, version)
        self.check_pending()

    def check_pending(self) -> None:
        """Refuse a hook implementation that matches no hook of the contract (a misspelled hook name)."""
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as exc:
            name = self.pm.get_name(exc.plugin) or "?"
            unknown = [
                n
                for n in dir(exc.plugin)
                if n.startswith("pvc_") and getattr(getattr(self.pm.hook, n, None), "spec", 0) is None
            ]
            hook = unknown[0] if unknown else "?"
            raise PluginError(
                f"plugin '{name}' implements '{hook}', which is not a hook of the PVC contract "
                f"{contract.CONTRACT_VERSION} (misspelled, or written for another version?)"
            ) from exc

    def info(self) -> list[PluginInfo]:
        """What is loaded: name, version and the hooks each plugin implements."""
        hooks_of: dict[str, list[str]] = {name: [] for name in self.versions}
        for hook_name in sorted(dir(self.pm.hook)):
            if not hook_name.startswith("pvc_"):
                continue
            caller = getattr(self.pm.hook, hook_name)
            for impl in caller.get_hookimpls():
                hooks_of.setdefault(impl.plugin_name, []).append(hook_name)
        return [
            PluginInfo(name=name, version=self.versions.get(name, "?"), hooks=tuple(sorted(hooks)))
            for name, hooks in sorted(hooks_of.items())
        ]
