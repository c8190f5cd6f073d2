"""The contract's version: ranges, refusals at load with one line, hook wrappers refused."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest

import pvc_core
from pvc_core import contract, hookimpl
from pvc_core.errors import PluginError
from pvc_core.plugins import manager
from pvc_core.plugins.manager import PluginSet


def test_the_running_contract_is_exported_from_pvc_core() -> None:
    assert pvc_core.CONTRACT_VERSION == contract.CONTRACT_VERSION
    major, minor = contract.parse_version(contract.CONTRACT_VERSION)
    assert major >= 2 and minor >= 0


@pytest.mark.parametrize(
    ("declared", "version", "ok"),
    [
        (">=2.0,<3", "2.0", True),
        (">=2.0,<3", "2.7", True),
        (">=2.0,<3", "3.0", False),
        (">=2.1", "2.0", False),
        ("==2.0", "2.0", True),
        (">2", "2.0", False),
        ("<=2.3, >=2", "2.3", True),
        ("!=2.1", "2.1", False),
    ],
)
def test_a_range_contains_the_versions_it_names(declared: str, version: str, ok: bool) -> None:
    assert contract.supports(declared, version) is ok


@pytest.mark.parametrize(
    ("declared", "message"),
    [
        (None, "plugin 'acme' declares no PVC contract range"),
        (2, "plugin 'acme': its PVC contract range must be a string"),
        ("about 2", "plugin 'acme': its PVC contract range 'about 2' is malformed"),
        (">=1.0,<2", "plugin 'acme' was built for PVC contract >=1.0,<2, but this pvc-core implements contract"),
    ],
)
def test_a_missing_malformed_or_foreign_range_is_refused_in_one_line(declared: Any, message: str) -> None:
    with pytest.raises(PluginError) as raised:
        contract.check("plugin 'acme'", declared)
    assert str(raised.value).startswith(message)
    assert "\n" not in str(raised.value)


def test_every_builtin_and_in_tree_plugin_declares_a_range_this_contract_is_in() -> None:
    import importlib

    for module in [
        *manager.BUILTINS.values(),
        "pvc_plugin_template.plugin",
        "pvc_test_plugin.plugin",
    ]:
        contract.check(module, getattr(importlib.import_module(module), "PVC_CONTRACT", None))


def test_a_builtin_built_for_another_contract_stops_the_load(monkeypatch: pytest.MonkeyPatch) -> None:
    old = types.ModuleType("pvc_test_old_builtin")
    old.PVC_CONTRACT = ">=1.0,<2"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, old.__name__, old)
    monkeypatch.setattr(manager, "BUILTINS", {**manager.BUILTINS, "builtin.old": old.__name__})
    with pytest.raises(PluginError, match=r"plugin 'builtin.old' was built for PVC contract >=1.0,<2"):
        PluginSet().load(enable=[])


@pytest.mark.parametrize("option", ["wrapper", "hookwrapper"])
def test_a_hook_wrapper_is_refused_when_registered(option: str) -> None:
    wrapping = types.ModuleType("wrapping")

    @hookimpl(**{option: True})
    def pvc_daemon_start(host: Any) -> Any:
        yield

    wrapping.pvc_daemon_start = pvc_daemon_start  # type: ignore[attr-defined]
    with pytest.raises(PluginError, match=r"plugin 'wrapping': pvc_daemon_start is a hook wrapper"):
        PluginSet().register(wrapping, "wrapping", "0")
