"""Coordinator election: one primary, automatic failover, hand-over both ways, epochs, no two primaries."""

from __future__ import annotations

import json
import signal
import time

from support import Nodes, run_pvc, wait_until

from pvc_core.client import Cluster
from pvc_core.zk import paths

NAMES = ["hv1", "hv2", "hv3"]
WITH_TESTPLUGIN = {"plugins": {"enable": ["testplugin"]}}


def epoch(cluster: Cluster) -> int:
    return cluster.status().primary_epoch


def hook_primary(cluster: Cluster) -> dict[str, object] | None:
    """What testplugin's pvc_become_primary hook last recorded (a helper, not a test)."""
    found = cluster.zk.get("/plugins/testplugin/primary")
    return json.loads(found[0]) if found else None


def settled(cluster: Cluster, count: int) -> bool:
    views = cluster.nodes()
    return sum(v.alive and v.daemon_state == "run" for v in views) == count and any(
        v.is_primary and v.coordinator_state == "primary" for v in views
    )


def test_exactly_one_primary_and_its_hook_ran_there(cluster: Cluster, zk_hosts: str, nodes: Nodes) -> None:
    nodes.cluster(zk_hosts, NAMES, **WITH_TESTPLUGIN)
    wait_until(lambda: settled(cluster, 3), what="a settled cluster")
    primary = cluster.primary()
    assert [v.name for v in cluster.nodes() if v.coordinator_state == "primary"] == [primary]
    assert wait_until(lambda: hook_primary(cluster)) == {"node": primary, "epoch": epoch(cluster)}


def test_the_primary_fails_over_when_its_pvcd_is_killed(cluster: Cluster, zk_hosts: str, nodes: Nodes) -> None:
    started = {n.name: n for n in nodes.cluster(zk_hosts, NAMES, **WITH_TESTPLUGIN)}
    wait_until(lambda: settled(cluster, 3), what="a settled cluster")
    old, old_epoch = cluster.primary(), epoch(cluster)
    assert old is not None
    started[old].kill()
    new = wait_until(lambda: (p := cluster.primary()) not in (None, old) and p, timeout=15, what="a new primary")
    assert epoch(cluster) == old_epoch + 1
    # the new primary's pvc_become_primary hook ran, with the new epoch
    assert wait_until(lambda: hook_primary(cluster) == {"node": new, "epoch": old_epoch + 1}, what="the hook")
    wait_until(lambda: cluster.node(new).coordinator_state == "primary", what="the new primary's state")


def test_hand_over_to_a_named_node_and_back(cluster: Cluster, zk_hosts: str, nodes: Nodes) -> None:
    nodes.cluster(zk_hosts, NAMES, **WITH_TESTPLUGIN)
    wait_until(lambda: settled(cluster, 3), what="a settled cluster")
    first, first_epoch = cluster.primary(), epoch(cluster)
    target = next(n for n in NAMES if n != first)
    env = {"PVC_CONNECTION": zk_hosts}
    moved = run_pvc("node", "primary", target, "--wait", env=env)
    assert moved.returncode == 0, moved.stderr
    assert f"primary is now {target}" in moved.stdout
    assert cluster.primary() == target
    assert epoch(cluster) == first_epoch + 1
    wait_until(lambda: cluster.node(first).coordinator_state == "secondary", what="the old primary to be secondary")
    wait_until(lambda: hook_primary(cluster) == {"node": target, "epoch": first_epoch + 1}, what="the hook")
    # the old primary's pvc_become_secondary ran there, with the epoch it gave up
    assert cluster.zk.get_json(f"/plugins/testplugin/secondary/{first}") == {"node": first, "epoch": first_epoch}
    back = run_pvc("node", "primary", first, "--wait", env=env)
    assert back.returncode == 0, back.stderr
    assert cluster.primary() == first
    assert epoch(cluster) == first_epoch + 2
    assert cluster.zk.exists(paths.REQUEST) is None and cluster.zk.exists(paths.HANDOVER) is None


def test_a_hand_over_asked_for_while_the_new_primary_is_still_taking_over_is_served(
    cluster: Cluster, zk_hosts: str, nodes: Nodes
) -> None:
    slow = {"plugins": {"enable": ["testplugin"]}, "testplugin": {"primary_delay": 2.0}}
    nodes.cluster(zk_hosts, NAMES[:2], **slow)
    wait_until(lambda: settled(cluster, 2), timeout=20, what="a settled cluster")
    first = cluster.primary()
    target = next(n for n in NAMES[:2] if n != first)
    assert first is not None
    cluster.request_primary(target)
    # the role is the target's (its primary znode committed) but its pvc_become_primary hooks still run
    wait_until(
        lambda: cluster.primary() == target and cluster.node(target).coordinator_state == "takeover",
        what="the target taking over",
    )
    cluster.request_primary(first)
    wait_until(lambda: cluster.primary() == first and settled(cluster, 2), timeout=20, what="the role back on first")
    assert cluster.zk.exists(paths.REQUEST) is None


def test_hand_over_requests_in_quick_succession_are_all_served(cluster: Cluster, zk_hosts: str, nodes: Nodes) -> None:
    """A request naming one node, written while another is taking over, is served by that new primary
    rather than lost with the hand-over before it."""
    nodes.cluster(zk_hosts, NAMES[:2], **WITH_TESTPLUGIN)
    wait_until(lambda: settled(cluster, 2), what="a settled cluster")
    for _ in range(10):
        first = wait_until(cluster.primary, what="a primary")
        other = next(n for n in NAMES[:2] if n != first)
        cluster.request_primary(other)  # no wait: the next request lands while the role moves
        time.sleep(0.01)
        cluster.request_primary(first, wait=True, timeout=15)
        # the last request wins: the role ends on first, and stays there
        wait_until(lambda f=first: cluster.primary() == f and cluster.zk.exists(paths.REQUEST) is None, what="quiet")
        time.sleep(0.2)
        assert cluster.primary() == first


def test_a_primary_asked_to_step_back_hands_over_to_another(cluster: Cluster, zk_hosts: str, nodes: Nodes) -> None:
    nodes.cluster(zk_hosts, NAMES)
    wait_until(lambda: settled(cluster, 3), what="a settled cluster")
    first = cluster.primary()
    result = run_pvc("node", "secondary", str(first), "--wait", env={"PVC_CONNECTION": zk_hosts})
    assert result.returncode == 0, result.stderr
    new = cluster.primary()
    assert new not in (None, first)
    wait_until(lambda: cluster.node(str(first)).coordinator_state == "secondary", what="the old primary to step back")
    wait_until(lambda: cluster.node(str(new)).coordinator_state == "primary", what="the new primary's state")


def test_a_non_coordinator_never_becomes_primary(cluster: Cluster, zk_hosts: str, nodes: Nodes) -> None:
    nodes.start("hv1", zk_hosts, ["hv1"])
    nodes.start("hv4", zk_hosts, ["hv1"])
    wait_until(lambda: settled(cluster, 2), what="two running nodes")
    assert cluster.node("hv4").coordinator_state == "client"
    result = run_pvc("node", "primary", "hv4", env={"PVC_CONNECTION": zk_hosts})
    assert result.returncode == 3  # InvalidRequest
    assert result.stderr.strip() == "pvc: error: node hv4 is not a coordinator"


def test_a_paused_primary_loses_its_role_and_does_not_act_on_return(
    cluster: Cluster, zk_hosts: str, nodes: Nodes
) -> None:
    started = {n.name: n for n in nodes.cluster(zk_hosts, NAMES, **WITH_TESTPLUGIN)}
    wait_until(lambda: settled(cluster, 3), what="a settled cluster")
    old, old_epoch = str(cluster.primary()), epoch(cluster)
    started[old].signal(signal.SIGSTOP)
    new = wait_until(lambda: (p := cluster.primary()) not in (None, old) and p, timeout=15, what="a new primary")
    started[old].signal(signal.SIGCONT)
    wait_until(
        lambda: (v := cluster.node(old)).alive and v.daemon_state == "run" and v.coordinator_state == "secondary",
        timeout=20,
        what="the old primary to come back as secondary",
    )
    assert cluster.primary() == new
    assert epoch(cluster) == old_epoch + 1
    events = [e["event"] for e in started[old].log_events()]
    assert "primary_role_lost" in events
    primaries = [v.name for v in cluster.nodes() if v.coordinator_state == "primary"]
    assert primaries == [new]
