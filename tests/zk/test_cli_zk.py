"""``pvc`` against a real cluster: init, status, node list/info, plugin list, errors."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from support import Nodes, run_pvc, wait_until

from pvc_core.client import Cluster
from pvc_core.testing import ZooKeeper
from pvc_core.zk.session import ZkSession


@pytest.fixture
def env(zk_hosts: str) -> dict[str, str]:
    return {"PVC_CONNECTION": zk_hosts}


@pytest.fixture
def running_cluster(cluster: Cluster, zk_hosts: str, nodes: Nodes) -> Cluster:
    nodes.cluster(zk_hosts, ["hv1", "hv2"])
    wait_until(
        lambda: sum(v.alive and v.daemon_state == "run" for v in cluster.nodes()) == 2 and cluster.primary(),
        what="two running nodes",
    )
    wait_until(lambda: any(v.coordinator_state == "primary" for v in cluster.nodes()), what="a primary")
    return cluster


@pytest.fixture
def bare_env(zookeeper: ZooKeeper) -> Iterator[dict[str, str]]:
    chroot = f"/pvcclibare-{uuid.uuid4().hex[:8]}"
    admin = ZkSession(zookeeper.hosts)
    admin.start()
    admin.ensure(chroot)
    yield {"PVC_CONNECTION": f"{zookeeper.hosts}{chroot}"}
    admin.delete(chroot, recursive=True)
    admin.stop()


def test_cluster_init_then_refuses_again_unless_overwrite_yes(bare_env: dict[str, str]) -> None:
    first = run_pvc("cluster", "init", env=bare_env)
    assert first.returncode == 0 and "cluster initialised (schema version 6)" in first.stdout
    again = run_pvc("cluster", "init", env=bare_env)
    assert again.returncode == 1
    assert again.stderr.strip() == (
        "pvc: error: the cluster is already initialised; use --overwrite --yes to wipe and re-create it"
    )
    unconfirmed = run_pvc("cluster", "init", "--overwrite", env=bare_env)
    assert unconfirmed.returncode == 1 and "add --yes to confirm" in unconfirmed.stderr
    assert run_pvc("cluster", "init", "--overwrite", "--yes", env=bare_env).returncode == 0


def test_commands_on_an_uninitialised_cluster_say_so(bare_env: dict[str, str]) -> None:
    result = run_pvc("node", "list", env=bare_env)
    assert result.returncode == 1
    assert "is not initialised; run 'pvc cluster init'" in result.stderr


def test_node_list_pretty_and_json(running_cluster: Cluster, env: dict[str, str]) -> None:
    pretty = run_pvc("node", "list", env=env)
    assert pretty.returncode == 0
    header, *rows = pretty.stdout.strip().splitlines()
    assert header.split()[:3] == ["NODE", "DAEMON", "COORDINATOR"]
    assert [row.split()[0] for row in rows] == ["hv1", "hv2"]
    data = json.loads(run_pvc("node", "list", "-o", "json", env=env).stdout)
    assert [n["name"] for n in data] == ["hv1", "hv2"]
    assert sorted(n["coordinator_state"] for n in data) == ["primary", "secondary"]
    assert all(n["daemon_state"] == "run" and n["alive"] for n in data)


def test_node_info_and_an_unknown_node(running_cluster: Cluster, env: dict[str, str]) -> None:
    info = json.loads(run_pvc("node", "info", "hv1", "-o", "json", env=env).stdout)
    assert info["name"] == "hv1" and info["resources"]["cpus"] >= 1
    pretty = run_pvc("node", "info", "hv1", env=env).stdout
    assert "daemon state:" in pretty and "coordinator:" in pretty
    missing = run_pvc("node", "info", "hv9", env=env)
    assert missing.returncode == 4  # NotFound
    assert missing.stderr.strip() == "pvc: error: no node named 'hv9' in this cluster"


def test_cluster_status(running_cluster: Cluster, env: dict[str, str]) -> None:
    status = json.loads(run_pvc("cluster", "status", "-o", "json", env=env).stdout)
    assert status["healthy"] is True
    assert status["primary"] == running_cluster.primary()
    assert status["nodes_by_state"] == {"run": 2}
    assert "health:        ok" in run_pvc("cluster", "status", env=env).stdout


def test_plugin_list_shows_builtins_enabled_on_every_node(running_cluster: Cluster, env: dict[str, str]) -> None:
    listed = {p["name"]: p for p in json.loads(run_pvc("plugin", "list", "-o", "json", env=env).stdout)}
    assert listed["builtin.fence-monitor"]["nodes"] == ["hv1", "hv2"]
    assert "pvc_become_primary" in listed["builtin.fence-monitor"]["hooks"]
    assert listed["testplugin"]["installed"] == "pvc-test-plugin" and listed["testplugin"]["nodes"] == []


def test_handing_the_primary_to_a_stopped_node_is_refused(running_cluster: Cluster, env: dict[str, str]) -> None:
    result = run_pvc("node", "primary", "hv7", env=env)
    assert result.returncode == 4  # NotFound
    assert result.stderr.strip() == "pvc: error: no node named 'hv7' in this cluster"
