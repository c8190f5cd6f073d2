"""The ZooKeeper tree: init, refusal to re-init, ordered migrations, refusal of a newer tree."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator

import pytest
from support import Nodes, wait_until

from pvc_core.client import Cluster
from pvc_core.errors import SchemaError
from pvc_core.testing import ZooKeeper
from pvc_core.zk import paths, schema
from pvc_core.zk.session import ZkSession


@pytest.fixture
def bare_hosts(zookeeper: ZooKeeper) -> Iterator[str]:
    """A chroot with nothing in it: an uninitialised cluster."""
    chroot = f"/pvcbare-{uuid.uuid4().hex[:12]}"
    admin = ZkSession(zookeeper.hosts)
    admin.start()
    admin.ensure(chroot)
    yield f"{zookeeper.hosts}{chroot}"
    admin.delete(chroot, recursive=True)
    admin.stop()


def test_init_creates_the_core_tree_at_the_current_version(bare_hosts: str) -> None:
    with Cluster.connect(bare_hosts) as cluster:
        cluster.init()
        for path in (paths.NODES, paths.LIVENESS, paths.COORDINATORS, paths.CONFIG, paths.DOMAINS, paths.EPOCH):
            assert cluster.zk.exists(path) is not None, path
        assert schema.read_version(cluster.zk, schema.CORE_SCHEMA) == schema.CORE_SCHEMA.version


def test_init_refuses_an_initialised_cluster(cluster: Cluster) -> None:
    with pytest.raises(SchemaError, match="already initialised; use --overwrite --yes"):
        cluster.init()


def test_init_with_overwrite_wipes_and_recreates(cluster: Cluster) -> None:
    cluster.zk.create(paths.node("ghost"), b"{}")
    cluster.init(overwrite=True)
    assert cluster.zk.exists(paths.node("ghost")) is None
    assert schema.read_version(cluster.zk, schema.CORE_SCHEMA) == schema.CORE_SCHEMA.version


def write_v1_tree(zk: ZkSession) -> None:
    """The v1 layout: one znode per node field, no liveness or coordinator trees."""
    zk.create(paths.SCHEMA_VERSION, b"1", makepath=True)
    for name, state in (("hv1", "run"), ("hv2", "stop")):
        zk.create(paths.node(name), b"", makepath=True)
        for key, value in (
            ("daemonstate", state),
            ("routerstate", "secondary"),
            ("cpucount", "8"),
            ("memtotal", "32000"),
            ("memfree", "20000"),
            ("cpuload", "0.5"),
        ):
            zk.create(f"{paths.node(name)}/{key}", value.encode())


def test_a_v1_tree_is_migrated_to_v2(bare_hosts: str) -> None:
    with Cluster.connect(bare_hosts) as cluster:
        write_v1_tree(cluster.zk)
        applied = schema.migrate(cluster.zk, schema.CORE_SCHEMA)
        assert [m.to_version for m in applied] == [2, 3, 4, 5, 6]
        assert schema.read_version(cluster.zk, schema.CORE_SCHEMA) == 6
        assert cluster.zk.exists(paths.API_KEYS) is not None and cluster.zk.exists(paths.AUDIT) is not None
        assert cluster.zk.exists(paths.SECRET_API_KEYS) is not None and cluster.zk.exists(paths.SECRET_PLUGINS)
        hv1 = json.loads(cluster.zk.get(paths.node("hv1"))[0])  # type: ignore[index]
        assert hv1["daemon_state"] == "run"
        assert hv1["resources"] == {"cpus": 8, "memory_total_mib": 32000, "memory_free_mib": 20000, "load": 0.5}
        assert cluster.zk.children(paths.node("hv1")) == []
        assert cluster.zk.exists(paths.LIVENESS) is not None
        assert schema.migrate(cluster.zk, schema.CORE_SCHEMA) == []  # nothing pending: idempotent
        assert {n.name for n in cluster.nodes()} == {"hv1", "hv2"}


def test_a_starting_pvcd_migrates_a_v1_cluster_and_runs(bare_hosts: str, nodes: Nodes) -> None:
    with Cluster.connect(bare_hosts) as cluster:
        write_v1_tree(cluster.zk)
        nodes.start("hv1", bare_hosts, ["hv1", "hv2"])
        wait_until(lambda: cluster.node("hv1").daemon_state == "run" and cluster.node("hv1").alive, what="hv1 to run")
        assert schema.read_version(cluster.zk, schema.CORE_SCHEMA) == 6
        assert cluster.node("hv2").record.resources["cpus"] == 8  # the stopped node's data survived


def test_pvcd_refuses_a_cluster_newer_than_itself(cluster: Cluster, zk_hosts: str, nodes: Nodes) -> None:
    cluster.zk.set(paths.SCHEMA_VERSION, b"7")
    node = nodes.start("hv1", zk_hosts)
    assert node.process is not None and node.process.wait(30) == 1
    assert "schema is version 7, newer than this software's 6; upgrade this node's PVC packages" in node.log()


def test_pvcd_refuses_an_uninitialised_cluster(bare_hosts: str, nodes: Nodes) -> None:
    node = nodes.start("hv1", bare_hosts)
    assert node.process is not None and node.process.wait(30) == 1
    assert "is not initialised; run 'pvc cluster init' first" in node.log()


def test_v6_moves_the_api_keys_hashes_under_secrets(cluster: Cluster) -> None:
    cluster.zk.set(paths.SCHEMA_VERSION, b"5")  # as a v5 cluster kept a key: its hash beside its role
    cluster.zk.delete(paths.SECRETS, recursive=True)
    cluster.zk.create(paths.api_key("ci"), json.dumps({"hash": "pbkdf2_sha256$1$s$d", "role": "read"}).encode())
    assert [m.to_version for m in schema.migrate(cluster.zk, schema.CORE_SCHEMA)] == [6]
    assert json.loads(cluster.zk.get(paths.api_key("ci"))[0]) == {"role": "read"}  # type: ignore[index]
    assert json.loads(cluster.zk.get(paths.secret_api_key("ci"))[0]) == {"hash": "pbkdf2_sha256$1$s$d"}  # type: ignore[index]
    assert cluster.api_keys.hashes()["ci"] == {"hash": "pbkdf2_sha256$1$s$d", "role": "read"}
