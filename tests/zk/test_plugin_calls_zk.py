"""A plugin's actions asked by a client (``cluster.plugin_call``) are carried out by the primary coordinator
and answered, over ZooKeeper and over the API alike: results, the plugin's own errors as their own classes,
unknown plugins and actions, a crash, an answer too big, and no primary to ask (a Timeout, not a hang)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import KEY, start_api, stop_api
from support import Nodes, run_pvc, wait_until

from pvc_cli.remote import RemoteCluster
from pvc_core.client import Cluster, ClusterClient
from pvc_core.errors import InvalidRequest, NotFound, PvcError, Timeout
from pvc_core.zk import paths

NAMES = ["hv1", "hv2"]


@pytest.fixture
def calling_cluster(cluster: Cluster, zk_hosts: str, nodes: Nodes) -> Iterator[Cluster]:
    nodes.cluster(zk_hosts, NAMES, plugins={"enable": ["testplugin"]})
    wait_until(cluster.primary, what="a primary coordinator")
    yield cluster


@pytest.fixture
def remote(tmp_path: Path, zk_hosts: str) -> Iterator[RemoteCluster]:
    process, port = start_api(tmp_path, zk_hosts)
    yield RemoteCluster(f"http://127.0.0.1:{port}", KEY)
    stop_api(process)


def both(cluster: Cluster, remote: RemoteCluster) -> list[ClusterClient]:
    return [cluster, remote]


def test_the_primary_carries_out_an_action_and_answers_its_result(
    calling_cluster: Cluster, remote: RemoteCluster
) -> None:
    primary = calling_cluster.primary()
    for client in both(calling_cluster, remote):
        assert client.plugin_call("testplugin", "echo", {"size": 3}) == {"args": {"size": 3}, "node": primary}
    assert calling_cluster.zk.children(paths.PLUGIN_CALLS) == []  # every request is gone once answered


def test_the_plugins_own_error_reaches_the_caller_as_its_class(calling_cluster: Cluster, remote: RemoteCluster) -> None:
    for client in both(calling_cluster, remote):
        with pytest.raises(NotFound, match=r"^testplugin has no such thing$"):
            client.plugin_call("testplugin", "refuse")
        with pytest.raises(InvalidRequest, match="refuses size") as refused:
            client.plugin_call("testplugin", "refuse", {"field": "size"})
        assert refused.value.field == "size"


def test_unknown_plugins_and_actions_are_named(calling_cluster: Cluster, remote: RemoteCluster) -> None:
    for client in both(calling_cluster, remote):
        with pytest.raises(NotFound, match="no plugin 'nosuch' with actions runs on the primary"):
            client.plugin_call("nosuch", "echo")
        with pytest.raises(NotFound, match="plugin 'testplugin' has no action 'fly'"):
            client.plugin_call("testplugin", "fly")
        with pytest.raises(InvalidRequest, match="is not an action name"):
            client.plugin_call("testplugin", "Not An Action")


def test_a_crashing_action_is_one_line_naming_the_plugin_and_the_primary_goes_on(
    calling_cluster: Cluster, remote: RemoteCluster
) -> None:
    for client in both(calling_cluster, remote):
        with pytest.raises(PvcError, match="plugin 'testplugin' failed crash: RuntimeError: testplugin crashed"):
            client.plugin_call("testplugin", "crash")
        with pytest.raises(PvcError, match=r"too big|at most"):
            client.plugin_call("testplugin", "huge")
    assert calling_cluster.plugin_call("testplugin", "echo")["args"] == {}


def test_a_slow_action_does_not_hold_up_another(calling_cluster: Cluster) -> None:
    slow = threading.Thread(target=lambda: calling_cluster.plugin_call("testplugin", "slow", {"seconds": 5}))
    slow.start()
    wait_until(lambda: calling_cluster.zk.children(paths.PLUGIN_CALLS), what="the slow call to be asked")
    assert calling_cluster.plugin_call("testplugin", "echo", {"quick": True})["args"] == {"quick": True}
    assert slow.is_alive()  # answered while the slow one still runs: they run in separate workers
    slow.join()


def test_with_no_primary_to_ask_the_caller_times_out_and_leaves_nothing(cluster: Cluster) -> None:
    with pytest.raises(Timeout, match="was not taken up within 1s"):
        cluster.plugin_call("testplugin", "echo", timeout=1)
    assert cluster.zk.children(paths.PLUGIN_CALLS) == []


def test_pvc_plugin_list_is_unchanged_by_actions(calling_cluster: Cluster, zk_hosts: str) -> None:
    listed = run_pvc("-c", zk_hosts, "plugin", "list", "-o", "json")
    assert "pvc_plugin_actions" in listed.stdout
