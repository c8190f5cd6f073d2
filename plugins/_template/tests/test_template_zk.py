"""The template plugin in a real pvcd on a real ZooKeeper: the test to copy for your plugin's own.

The fixtures come from pvc-core's pytest plugin, which pytest loads by itself wherever pvc-core is
installed: ``zk_hosts`` (a fresh cluster in a ZooKeeper started for the session), ``cluster`` (a client
of it) and ``nodes`` (pvcd processes, stopped at teardown). The helpers are imported from
``pvc_core.testing``. Needs Debian's ``zookeeper`` package and a JRE; ``pytest -m unit`` skips this file.
"""

from __future__ import annotations

import pytest

from pvc_core.client import Cluster
from pvc_core.testing import Nodes, compute_node, domain_xml, wait_until
from pvc_plugin_template.plugin import PRIMARY, VM_NAMES

pytestmark = pytest.mark.zk


def test_the_primary_records_itself_when_the_plugin_is_enabled(cluster: Cluster, zk_hosts: str, nodes: Nodes) -> None:
    node = nodes.start("hv1", zk_hosts, plugins={"enable": ["template"]})
    record = wait_until(lambda: cluster.zk.get_json(PRIMARY), what="the template's record of the primary")
    assert record == {"node": "hv1", "epoch": cluster.status().primary_epoch}
    assert "template" in {plugin.name for plugin in cluster.node("hv1").record.plugins}
    assert not [event for event in node.log_events() if event.get("event") == "hook_failed"]


def test_the_primary_keeps_the_vm_names_from_the_cluster_level_vm_hooks(
    cluster: Cluster, zk_hosts: str, nodes: Nodes
) -> None:
    compute_node(nodes, "hv1", zk_hosts, ["hv1"], plugins={"enable": ["template"]})
    wait_until(lambda: cluster.zk.get_json(VM_NAMES) == [], what="the template's (empty) list of VM names")
    cluster.vms.define(domain_xml("web1"))
    cluster.vms.define(domain_xml("db1"))
    wait_until(lambda: cluster.zk.get_json(VM_NAMES) == ["db1", "web1"], what="both names")
    cluster.vms.rename("web1", "www1")
    cluster.vms.remove("db1")
    wait_until(lambda: cluster.zk.get_json(VM_NAMES) == ["www1"], what="the rename and the removal")
