"""The plugin's hooks: discoverable through its entry point, valid against the contract, and what they do."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from importlib.metadata import entry_points
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

    def ensure(self, path: str, value: bytes = b"") -> None:
        self.data.setdefault(path, value)

    def set(self, path: str, value: bytes, version: int = -1) -> None:
        assert path in self.data, f"{path} set before it was created"
        self.data[path] = value


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


def test_become_primary_records_node_and_epoch() -> None:
    host = FakeHost()
    plugin.pvc_become_primary(cast("Host", host), epoch=3)
    assert json.loads(host.zk.data["/plugins/template/primary"]) == {"node": "node1", "epoch": 3}
    host.node = "node2"
    plugin.pvc_become_primary(cast("Host", host), epoch=4)  # a later takeover overwrites
    assert json.loads(host.zk.data["/plugins/template/primary"]) == {"node": "node2", "epoch": 4}


def test_daemon_start_logs() -> None:
    with capture_logs() as logs:
        plugin.pvc_daemon_start(cast("Host", FakeHost()))
    assert logs == [
        {"event": "template_started", "log_level": "info", "plugin": "template", "node": "node1", "greeting": "hi"}
    ]
