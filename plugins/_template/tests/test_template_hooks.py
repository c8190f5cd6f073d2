"""The plugin's hooks: discoverable through its entry point, valid against the contract, and what they do."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any, cast

import pluggy
import pytest
from structlog.testing import capture_logs

from pvc_core import hookspecs
from pvc_core.plugins.manager import PluginSet
from pvc_plugin_template import plugin
from pvc_plugin_template.config import TemplateConfig
from pvc_plugin_template.dns import HostsFileDns

if TYPE_CHECKING:
    from pvc_core.host import Host
    from pvc_core.vms.model import VmRecord

pytestmark = pytest.mark.unit


def test_hooks_match_the_contract() -> None:
    pm = pluggy.PluginManager("pvc")
    pm.add_hookspecs(hookspecs)
    pm.register(plugin, name="template")
    pm.check_pending()  # raises on a hook implementation that matches no hook (a typo)
    callers = pm.get_hookcallers(plugin)
    assert callers is not None
    implemented = {caller.name for caller in callers}
    assert implemented == {
        "pvc_config_sections",
        "pvc_zk_schema",
        "pvc_daemon_start",
        "pvc_become_primary",
        "pvc_vm_defined",
        "pvc_vm_renamed",
        "pvc_vm_removed",
        "pvc_api_blueprints",
    }
    impls = pm.hook.pvc_become_primary.get_hookimpls()
    assert [impl.plugin_name for impl in impls] == ["template"]


def test_entry_points() -> None:
    (found,) = entry_points(group="pvc.plugins", name="template")
    assert found.load() is plugin
    (driver,) = entry_points(group="pvc.drivers.dns", name="hostsfile")
    assert driver.load() is HostsFileDns


def test_loads_like_pvcd_loads_it() -> None:
    plugins = PluginSet()
    plugins.load(enable=["template"])
    (info,) = [info for info in plugins.info() if info.name == "template"]
    assert "pvc_become_primary" in info.hooks
    assert info.version == "0.1.0"


def test_schema() -> None:
    schema = plugin.pvc_zk_schema()
    assert (schema.owner, schema.version, schema.paths) == ("template", 1, ("/plugins/template",))


@dataclass
class FakeZk:
    """Records writes; stands in for host.zk (a pvc_core.zk.session.ZkSession)."""

    data: dict[str, bytes] = field(default_factory=dict)

    def put(self, path: str, value: bytes) -> None:
        self.data[path] = value

    def get_json(self, path: str) -> Any:
        return json.loads(self.data[path]) if path in self.data else None


@dataclass
class FakeVms:
    names: list[str] = field(default_factory=list)

    def list(self) -> list[Any]:
        return [SimpleNamespace(name=name) for name in self.names]


@dataclass
class FakeCluster:
    """Stands in for host.cluster (the bindings): only vms.list() is used."""

    vms: FakeVms = field(default_factory=FakeVms)


@dataclass
class FakeConfig:
    sections: dict[str, Any]

    def section(self, name: str) -> Any:
        return self.sections[name]


@dataclass
class FakeHost:
    node: str = "node1"
    zk: FakeZk = field(default_factory=FakeZk)
    config: FakeConfig = field(default_factory=lambda: FakeConfig({"template": TemplateConfig(greeting="hi")}))
    cluster: FakeCluster = field(default_factory=FakeCluster)


def test_become_primary_records_node_and_epoch() -> None:
    host = FakeHost()
    plugin.pvc_become_primary(cast("Host", host), epoch=3)
    assert json.loads(host.zk.data["/plugins/template/primary"]) == {"node": "node1", "epoch": 3}
    host.node = "node2"
    plugin.pvc_become_primary(cast("Host", host), epoch=4)  # a later takeover overwrites
    assert json.loads(host.zk.data["/plugins/template/primary"]) == {"node": "node2", "epoch": 4}


def test_the_vm_names_follow_the_vm_hooks_and_a_new_primary_reads_them_all() -> None:
    host = FakeHost(cluster=FakeCluster(FakeVms(["web1"])))
    plugin.pvc_become_primary(cast("Host", host), epoch=1)
    plugin.pvc_vm_defined(cast("Host", host), cast("VmRecord", SimpleNamespace(name="db1")))
    plugin.pvc_vm_renamed(cast("Host", host), cast("VmRecord", SimpleNamespace(name="www1")), "web1")
    assert json.loads(host.zk.data[plugin.VM_NAMES]) == ["db1", "www1"]
    plugin.pvc_vm_removed(cast("Host", host), cast("VmRecord", SimpleNamespace(name="db1")))
    assert json.loads(host.zk.data[plugin.VM_NAMES]) == ["www1"]


def test_daemon_start_logs() -> None:
    with capture_logs() as logs:
        plugin.pvc_daemon_start(cast("Host", FakeHost()))
    assert logs == [
        {"event": "template_started", "log_level": "info", "plugin": "template", "node": "node1", "greeting": "hi"}
    ]
