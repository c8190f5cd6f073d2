"""Plugins in a running cluster: a third-party plugin's hook, driver and command; driver swap by config;
a raising hook is isolated; watches become pvc_zk_event calls; a builtin replaced."""

from __future__ import annotations

import json
import time

from support import Nodes, run_pvc, wait_until

from pvc_core.client import Cluster
from pvc_core.zk.session import encode


def running(cluster: Cluster, name: str) -> bool:
    view = cluster.node(name)
    return view.alive and view.daemon_state == "run"


def test_a_third_party_plugin_contributes_a_hook_a_driver_and_a_command(
    cluster: Cluster, zk_hosts: str, nodes: Nodes
) -> None:
    nodes.start("hv1", zk_hosts, plugins={"enable": ["testplugin"]}, drivers={"dns": "memorydns"})
    wait_until(lambda: running(cluster, "hv1"), what="hv1 running")
    started = cluster.zk.get_json("/plugins/testplugin/started/hv1")
    assert started["node"] == "hv1"  # pvc_daemon_start ran
    record = cluster.node("hv1").record
    assert record.drivers == {"dns": "memorydns"}
    assert "testplugin" in {p.name for p in record.plugins}
    assert record.resources["testplugin"] is True  # pvc_node_resources merged
    assert run_pvc("testplugin", "hello").stdout.strip() == "hello from testplugin"
    listed = json.loads(run_pvc("plugin", "list", "-o", "json", env={"PVC_CONNECTION": zk_hosts}).stdout)
    entry = next(p for p in listed if p["name"] == "testplugin")
    assert entry["nodes"] == ["hv1"]
    assert entry["installed"] == "pvc-test-plugin"
    assert "pvc_zk_event" in entry["hooks"]


def test_the_driver_for_a_role_is_swapped_by_config(
    cluster: Cluster, zk_hosts: str, nodes: Nodes, tmp_path: object
) -> None:
    nodes.start("hv1", zk_hosts, ["hv1", "hv2"], plugins={"enable": ["testplugin"]}, drivers={"dns": "memorydns"})
    nodes.start(
        "hv2",
        zk_hosts,
        ["hv1", "hv2"],
        plugins={"enable": ["template"]},
        drivers={"dns": "hostsfile"},
        template={"hosts_file": f"{tmp_path}/hosts"},
    )
    wait_until(lambda: running(cluster, "hv1") and running(cluster, "hv2"), what="both nodes running")
    assert cluster.node("hv1").record.drivers == {"dns": "memorydns"}
    assert cluster.node("hv2").record.drivers == {"dns": "hostsfile"}


def test_a_missing_driver_stops_pvcd_with_one_line(zk_hosts: str, nodes: Nodes) -> None:
    node = nodes.start("hv1", zk_hosts, drivers={"fencing": "nosuchfence"})
    assert node.process is not None and node.process.wait(30) == 1
    assert "pvcd: error: fencing driver 'nosuchfence' is not installed" in node.log()


def test_a_raising_hook_is_logged_and_the_daemon_goes_on(cluster: Cluster, zk_hosts: str, nodes: Nodes) -> None:
    node = nodes.start(
        "hv1",
        zk_hosts,
        plugins={"enable": ["testplugin", "template"]},
        testplugin={"raise_in_hook": True},
    )
    wait_until(lambda: running(cluster, "hv1"), what="hv1 running despite the raising hook")
    # the other plugin's hooks still ran: template records the primary in pvc_become_primary
    assert wait_until(lambda: cluster.zk.get_json("/plugins/template/primary"), what="template's hook")["node"] == "hv1"
    failures = [e for e in node.log_events() if e.get("event") == "hook_failed"]
    assert any(f["plugin"] == "testplugin" and f["hook"] == "pvc_daemon_start" for f in failures)
    # dispatch goes on: a watched change after the failure still reaches the hooks (and fails again, logged)
    cluster.zk.ensure("/plugins/testplugin/ping/hv1")
    cluster.zk.set("/plugins/testplugin/ping/hv1", b"1")
    wait_until(
        lambda: any(e.get("event") == "hook_failed" and e.get("hook") == "pvc_zk_event" for e in node.log_events()),
        what="the event hook to be called and its failure logged",
    )
    assert node.running()


def test_a_watched_path_change_reaches_the_plugin_on_the_owning_node(
    cluster: Cluster, zk_hosts: str, nodes: Nodes
) -> None:
    nodes.start("hv1", zk_hosts, plugins={"enable": ["testplugin"]})
    wait_until(lambda: running(cluster, "hv1"), what="hv1 running")
    cluster.zk.ensure("/plugins/testplugin/ping/hv1")
    for i in range(5):
        value = encode({"sequence": i, "sent": time.time()})
        cluster.zk.set("/plugins/testplugin/ping/hv1", value)
        wait_until(
            lambda value=value: cluster.zk.get("/plugins/testplugin/pong/hv1")[0] == value,  # type: ignore[index]
            what=f"pong {i}",
        )


def test_a_blocked_builtin_is_replaced_by_a_third_party_plugin(cluster: Cluster, zk_hosts: str, nodes: Nodes) -> None:
    nodes.start("hv1", zk_hosts, plugins={"enable": ["testplugin"], "disable": ["builtin.host-resources"]})
    wait_until(lambda: running(cluster, "hv1"), what="hv1 running")
    record = cluster.node("hv1").record
    assert record.resources == {"testplugin": True}
    assert "builtin.host-resources" not in {p.name for p in record.plugins}
