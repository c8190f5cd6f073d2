"""Membership: registration, liveness, daemon states, clean shutdown, dead marking, session expiry."""

from __future__ import annotations

import json
import signal
import time

from support import Nodes, wait_until

from pvc_core.client import Cluster
from pvc_core.zk import paths

NAMES = ["hv1", "hv2", "hv3"]


def running(cluster: Cluster, count: int) -> bool:
    views = cluster.nodes()
    return sum(1 for v in views if v.alive and v.daemon_state == "run") == count and any(
        v.is_primary and v.coordinator_state == "primary" for v in views
    )


def test_nodes_register_run_and_publish_resources(cluster: Cluster, zk_hosts: str, nodes: Nodes) -> None:
    nodes.cluster(zk_hosts, NAMES)
    wait_until(lambda: running(cluster, 3), what="three running nodes and a primary")
    views = {v.name: v for v in cluster.nodes()}
    assert set(views) == set(NAMES)
    for view in views.values():
        assert view.record.resources["cpus"] >= 1
        assert view.record.resources["memory_total_mib"] > 0
        assert "load" in view.record.resources
        assert view.record.pvc_version
        assert {"builtin.host-resources", "builtin.fence-monitor"} <= {p.name for p in view.record.plugins}
    assert sum(v.is_primary for v in views.values()) == 1
    assert sorted(v.coordinator_state for v in views.values()) == ["primary", "secondary", "secondary"]


def test_sigterm_stops_cleanly_and_closes_the_session(cluster: Cluster, zk_hosts: str, nodes: Nodes) -> None:
    hv1, hv2 = nodes.cluster(zk_hosts, ["hv1", "hv2"])
    wait_until(lambda: running(cluster, 2), what="two running nodes")
    states: list[str] = []
    primary = cluster.primary()
    leaving = hv1 if primary == "hv1" else hv2
    leaving.signal(signal.SIGTERM)
    assert leaving.process is not None and leaving.process.wait(20) == 0
    view = cluster.node(leaving.name)
    states.append(view.daemon_state)
    assert view.daemon_state == "stop"
    assert not view.alive  # the session was closed, not left to expire
    assert cluster.zk.exists(paths.liveness(leaving.name)) is None
    # the other coordinator took over right away (a clean hand-over, no session timeout to wait for)
    wait_until(lambda: cluster.primary() not in (None, leaving.name), timeout=5, what="the other node to take over")


def test_a_killed_node_is_declared_dead_by_the_primary(cluster: Cluster, zk_hosts: str, nodes: Nodes) -> None:
    started = nodes.cluster(zk_hosts, NAMES)
    wait_until(lambda: running(cluster, 3), what="three running nodes")
    victim = next(n for n in started if n.name != cluster.primary())
    victim.kill()
    view = wait_until(
        lambda: (v := cluster.node(victim.name)).daemon_state == "dead" and v, timeout=20, what="the node to be dead"
    )
    assert not view.alive
    assert "no ZooKeeper session for 2s" in view.record.state_reason
    assert {v.name: v.daemon_state for v in cluster.nodes() if v.name != victim.name} == {
        n: "run" for n in NAMES if n != victim.name
    }


def test_a_stopped_node_is_not_declared_dead(cluster: Cluster, zk_hosts: str, nodes: Nodes) -> None:
    started = nodes.cluster(zk_hosts, ["hv1", "hv2"])
    wait_until(lambda: running(cluster, 2), what="two running nodes")
    leaving = next(n for n in started if n.name != cluster.primary())
    leaving.stop()
    time.sleep(4)  # twice the dead grace
    assert cluster.node(leaving.name).daemon_state == "stop"


def test_a_second_pvcd_with_the_same_name_is_refused(cluster: Cluster, zk_hosts: str, nodes: Nodes) -> None:
    nodes.start("hv1", zk_hosts)
    wait_until(lambda: running(cluster, 1), what="hv1 running")
    twin = nodes.start("hv1", zk_hosts)
    assert twin.process is not None and twin.process.wait(30) == 1
    assert "node hv1 is already running (pvcd pid" in twin.log()
    assert cluster.node("hv1").alive and cluster.node("hv1").daemon_state == "run"


def test_a_restart_after_a_crash_does_not_wait_for_the_old_session(
    cluster: Cluster, zk_hosts: str, nodes: Nodes
) -> None:
    first = nodes.start("hv1", zk_hosts)
    wait_until(lambda: running(cluster, 1), what="hv1 running")
    first.kill()  # its session (and liveness znode) lingers for the session timeout
    old = cluster.zk.exists(paths.liveness("hv1"))
    assert old is not None
    again = nodes.start("hv1", zk_hosts)
    wait_until(
        lambda: (s := cluster.zk.exists(paths.liveness("hv1"))) is not None and s.ephemeralOwner != old.ephemeralOwner,
        what="hv1's new session to hold its liveness",
    )
    # the stale znode was released (not waited out for the old session's timeout)
    assert "released_stale_liveness" in [e["event"] for e in again.log_events()]
    wait_until(lambda: running(cluster, 1), what="hv1 running again")


def test_a_node_whose_session_expired_re_registers(cluster: Cluster, zk_hosts: str, nodes: Nodes) -> None:
    started = nodes.cluster(zk_hosts, NAMES)
    wait_until(lambda: running(cluster, 3), what="three running nodes")
    victim = next(n for n in started if n.name != cluster.primary())
    before = cluster.zk.exists(paths.liveness(victim.name))
    assert before is not None
    victim.signal(signal.SIGSTOP)  # its session times out while it cannot answer
    wait_until(lambda: cluster.node(victim.name).daemon_state == "dead", timeout=20, what="the paused node to be dead")
    victim.signal(signal.SIGCONT)
    wait_until(
        lambda: (v := cluster.node(victim.name)).alive and v.daemon_state == "run",
        timeout=20,
        what="the node to re-register",
    )
    after = cluster.zk.exists(paths.liveness(victim.name))
    assert after is not None and after.ephemeralOwner != before.ephemeralOwner  # a new session
    events = [e["event"] for e in victim.log_events()]
    assert "re-registered" in events
    assert victim.running()


def test_an_enabled_plugin_that_is_missing_stops_pvcd_with_one_line(zk_hosts: str, nodes: Nodes) -> None:
    node = nodes.start("hv1", zk_hosts, plugins={"enable": ["nosuchplugin"]})
    assert node.process is not None and node.process.wait(30) == 1
    errors = [line for line in node.log().splitlines() if line.startswith("pvcd: error:")]
    assert errors == [next(line for line in errors if "plugin 'nosuchplugin' is enabled but not installed" in line)]


def test_a_config_error_stops_pvcd_naming_file_and_key(zk_hosts: str, nodes: Nodes) -> None:
    node = nodes.start("hv1", zk_hosts, timers={"keepalive": "often"})
    assert node.process is not None and node.process.wait(30) == 1
    line = next(line for line in node.log().splitlines() if line.startswith("pvcd: error:"))
    assert "hv1.yaml: timers.keepalive:" in line and "'often'" in line


def test_resources_are_rewritten_only_when_they_change(cluster: Cluster, zk_hosts: str, nodes: Nodes) -> None:
    nodes.start("hv1", zk_hosts)
    wait_until(lambda: running(cluster, 1), what="hv1 running")
    first = cluster.zk.exists(paths.node("hv1"))
    time.sleep(3.5)  # three keepalives of 1s
    later = cluster.zk.exists(paths.node("hv1"))
    assert first is not None and later is not None
    # load is rounded to one decimal; at most a few writes, not one per keepalive per field
    assert later.version - first.version <= 3
    assert json.loads(cluster.zk.get(paths.node("hv1"))[0])["daemon_state"] == "run"  # type: ignore[index]
