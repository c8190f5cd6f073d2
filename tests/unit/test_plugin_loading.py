"""Loading plugins and drivers: order, enable list, blocking builtins, one-line failures."""

from __future__ import annotations

import types
from typing import Any

import pytest

from pvc_core import hookimpl
from pvc_core.errors import PluginError
from pvc_core.plugins.drivers import installed_drivers, load_driver_class
from pvc_core.plugins.manager import BUILTINS, PluginSet, installed_plugins
from pvc_core.roles import DnsDriver


def test_builtins_load_by_default() -> None:
    plugins = PluginSet()
    plugins.load(enable=[])
    loaded = {info.name for info in plugins.info()}
    assert set(BUILTINS) <= loaded


def test_an_installed_but_not_enabled_plugin_is_not_imported() -> None:
    # brokenplugin (from the test distribution) raises at import: not enabled, it does no harm
    assert "brokenplugin" in installed_plugins()
    plugins = PluginSet()
    plugins.load(enable=[])
    assert "brokenplugin" not in {info.name for info in plugins.info()}


def test_an_enabled_plugin_that_is_not_installed_names_itself() -> None:
    with pytest.raises(
        PluginError, match=r"plugin 'nosuchplugin' is enabled but not installed \(installed: .*testplugin"
    ):
        PluginSet().load(enable=["nosuchplugin"])


def test_an_enabled_plugin_that_fails_to_import_names_itself_and_why() -> None:
    with pytest.raises(PluginError, match=r"plugin 'brokenplugin' failed to load: ImportError: brokenplugin is broken"):
        PluginSet().load(enable=["brokenplugin"])


def test_a_third_party_plugin_is_loaded_with_its_version_and_hooks() -> None:
    plugins = PluginSet()
    plugins.load(enable=["testplugin"])
    info = {i.name: i for i in plugins.info()}["testplugin"]
    assert info.version == installed_plugins()["testplugin"].version
    assert "pvc_become_primary" in info.hooks


def test_a_builtin_can_be_blocked_and_replaced() -> None:
    replacement = types.ModuleType("replacement_monitor")

    @hookimpl
    def pvc_become_primary(host: Any, epoch: int) -> None:
        """A third-party node monitor would start here."""

    replacement.pvc_become_primary = pvc_become_primary  # type: ignore[attr-defined]
    plugins = PluginSet()
    plugins.load(enable=[], disable=["builtin.fence-monitor"])
    plugins.register(replacement, "replacement-monitor", "1.0")
    names = {i.name for i in plugins.info()}
    assert "builtin.fence-monitor" not in names
    assert "replacement-monitor" in names
    assert plugins.pm.is_blocked("builtin.fence-monitor")


def test_enabling_and_disabling_the_same_plugin_is_refused() -> None:
    with pytest.raises(PluginError, match="both enabled and disabled"):
        PluginSet().load(enable=["testplugin"], disable=["testplugin"])


def test_a_hook_implementation_with_a_typo_is_refused() -> None:
    typo = types.ModuleType("typo")

    @hookimpl
    def pvc_become_primry(host: Any) -> None:
        """Misspelled."""

    typo.pvc_become_primry = pvc_become_primry  # type: ignore[attr-defined]
    plugins = PluginSet()
    plugins.register(typo, "typo", "0")
    with pytest.raises(PluginError, match="pvc_become_primry"):
        plugins.load(enable=[])


def test_a_driver_is_loaded_by_role_and_name() -> None:
    cls = load_driver_class("dns", "memorydns")
    assert issubclass(cls, DnsDriver)
    assert "memorydns" in installed_drivers("dns")


def test_a_missing_driver_names_role_name_and_alternatives() -> None:
    with pytest.raises(PluginError, match=r"dns driver 'nosuch' is not installed \(installed: .*memorydns"):
        load_driver_class("dns", "nosuch")


def test_a_driver_that_fails_to_import_names_itself() -> None:
    with pytest.raises(PluginError, match=r"fencing driver 'brokenfence' failed to load: ImportError"):
        load_driver_class("fencing", "brokenfence")
