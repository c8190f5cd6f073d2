"""Driver roles in one list; drivers own ZooKeeper subtrees like plugins; a driver built for another contract
is refused at load."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from pvc_core.config import DriversConfig
from pvc_core.errors import PluginError
from pvc_core.plugins.drivers import Drivers, load_driver_class
from pvc_core.roles import ROLE_CLASSES, ROLES, DnsDriver
from pvc_core.zk.schema import Schema


def test_every_role_has_a_key_in_the_node_configs_drivers_section_and_an_entry_point_group() -> None:
    assert set(DriversConfig.model_fields) == set(ROLE_CLASSES)
    assert {role: f"pvc.drivers.{role}" for role in ROLE_CLASSES} == ROLES


def test_the_ipmi_driver_declares_its_subtree_and_the_kernel_collects_it() -> None:
    drivers = Drivers()
    drivers.resolve(DriversConfig(fencing="ipmi"))
    assert [(s.owner, s.version, s.paths) for s in drivers.schemas()] == [
        ("fencing-ipmi", 2, ("/plugins/fencing-ipmi",))
    ]


class Outside(DnsDriver):
    contract: ClassVar[str | None] = ">=2.0,<3"
    zk_schema: ClassVar[Schema | None] = Schema(owner="acme", version=1, paths=("/nodes/acme",))

    def zones(self) -> list[str]: ...
    def ensure_zone(self, zone: Any) -> None: ...
    def remove_zone(self, name: str) -> None: ...
    def records(self, zone: str) -> list[Any]: ...
    def apply(self, zone: str, changes: Any) -> None: ...
    def serial(self, zone: str) -> int: ...


def test_a_driver_schema_outside_its_subtree_is_refused() -> None:
    drivers = Drivers()
    drivers.classes[("dns", "acme")] = Outside
    with pytest.raises(PluginError, match=r"dns driver 'acme': schema path /nodes/acme is outside its subtree"):
        drivers.schemas()


def test_an_installed_driver_without_a_contract_range_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    from pvc_test_plugin.memorydns import InMemoryTestDns

    monkeypatch.setattr(InMemoryTestDns, "contract", None)
    with pytest.raises(PluginError, match=r"^dns driver 'memorydns' \(.*InMemoryTestDns\) declares no PVC contract"):
        load_driver_class("dns", "memorydns")
