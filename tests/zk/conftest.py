"""Fixtures shared by the ZooKeeper-tier API tests: a running pvcapid, and two compute nodes behind it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import Api, start_api, stop_api
from support import Nodes, compute_node, compute_nodes_ready, wait_until

from pvc_core.client import Cluster


@pytest.fixture
def api(tmp_path: Path, zk_hosts: str) -> Iterator[Api]:
    process, port = start_api(tmp_path, zk_hosts)
    yield Api(f"http://127.0.0.1:{port}/api/v1")
    stop_api(process)


@pytest.fixture
def running(cluster: Cluster, zk_hosts: str, nodes: Nodes) -> Cluster:
    for name in ("hv1", "hv2"):
        compute_node(nodes, name, zk_hosts, ["hv1", "hv2"])
    wait_until(compute_nodes_ready(cluster, 2), what="two nodes")
    return cluster
