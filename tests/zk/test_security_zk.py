"""ZooKeeper authentication and ACLs on a real server: a secured cluster lets a bare client read and write
nothing, its read-only credential read everything but secrets, its operator's write secrets without
reading them; every znode carries the ACL of its place, including those nodes and clients create later;
``pvc cluster init --secure`` secures an open tree in place."""

from __future__ import annotations

import contextlib
import json
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from kazoo.client import KazooClient
from kazoo.exceptions import NoAuthError
from support import Nodes, compute_nodes_ready, domain_xml, private_hypervisor, run_pvc, wait_until

from pvc_core.client import Cluster
from pvc_core.errors import Forbidden
from pvc_core.testing.security import remove_secured_tree
from pvc_core.zk import acl_tree, paths
from pvc_core.zk.security import SECURITY, Credential, make_credentials

NAMES = ["hv1", "hv2"]


@pytest.fixture
def credentials(tmp_path: Path) -> dict[str, Credential]:
    return make_credentials(tmp_path / "credentials")


@pytest.fixture
def secured(zk_hosts: str, credentials: dict[str, Credential]) -> Iterator[str]:
    """The test's cluster, secured; its tree emptied with the node credential afterwards."""
    with Cluster.connect(zk_hosts, credential=credentials["node"]) as cluster:
        cluster.secure(credentials)
    try:
        yield zk_hosts
    finally:
        remove_secured_tree(zk_hosts, credentials["node"])


@contextlib.contextmanager
def bare(hosts: str) -> Iterator[KazooClient]:
    client = KazooClient(hosts=hosts, timeout=5.0)
    client.start(timeout=10)
    try:
        yield client
    finally:
        client.stop()
        client.close()


def test_a_bare_client_can_read_and_write_nothing(secured: str) -> None:
    with bare(secured) as client:
        for path in ("/", paths.NODES, paths.SCHEMA_VERSION, SECURITY, paths.SECRET_API_KEYS):
            with pytest.raises(NoAuthError):
                client.get(path)
            with pytest.raises(NoAuthError):
                client.get_children(path)
        for path in ("/intruder", f"{paths.NODES}/intruder", f"{paths.SECRET_API_KEYS}/intruder"):
            with pytest.raises(NoAuthError):
                client.create(path, b"x")
        for path in (paths.MAINTENANCE, paths.SCHEMA_VERSION):
            with pytest.raises(NoAuthError):
                client.set(path, b"x")
        with pytest.raises(NoAuthError):
            client.delete(paths.MAINTENANCE)


def test_without_a_credential_pvc_says_so_in_one_line(secured: str) -> None:
    result = run_pvc("node", "list", env={"PVC_CONNECTION": secured})
    assert result.returncode == 9
    assert result.stderr.strip() == (
        f"pvc: error: the cluster at {secured} is secured and this connection has no ZooKeeper credential that "
        "may read it (give the node config's zookeeper.credential_file, or the connection's --credential-file)"
    )


def test_the_read_credential_reads_all_but_secrets_and_writes_nothing(
    secured: str, credentials: dict[str, Credential]
) -> None:
    with Cluster.connect(secured, credential=credentials["operator"]) as operator:
        operator.api_keys.add("ci", "read")
    with Cluster.connect(secured, credential=credentials["read"]) as reader:
        assert reader.status().schema_version >= 6
        assert [k.name for k in reader.api_keys.list()] == ["ci"]  # names and roles: not secret
        with pytest.raises(Forbidden, match="not allowed with credential 'pvc-read'"):
            reader.api_keys.hashes()
        with pytest.raises(Forbidden):
            reader.set_maintenance(True)
        with pytest.raises(Forbidden):
            reader.api_keys.add("mine", "admin")


def test_the_operator_credential_writes_secrets_without_reading_them(
    secured: str, credentials: dict[str, Credential]
) -> None:
    with Cluster.connect(secured, credential=credentials["operator"]) as operator:
        key = operator.api_keys.add("ci", "admin")
        operator.plugin_secrets("acme").set("password", "s3cret")
        with pytest.raises(Forbidden):
            operator.plugin_secrets("acme").get("password")
        with pytest.raises(Forbidden):
            operator.api_keys.hashes()
        operator.set_maintenance(True)  # everything else, as before
    with Cluster.connect(secured, credential=credentials["node"]) as node:
        assert node.plugin_secrets("acme").get("password") == "s3cret"
        from pvc_core.apikeys import verify

        assert verify(key, node.api_keys.hashes()["ci"]["hash"])
    with Cluster.connect(secured, credential=credentials["operator"]) as operator:
        operator.api_keys.remove("ci")  # deleting a secret needs no read either
        assert operator.api_keys.list() == []


def test_every_znode_nodes_and_clients_create_carries_the_acl_of_its_place(
    secured: str, credentials: dict[str, Credential], nodes: Nodes, tmp_path: Path
) -> None:
    node_file = tmp_path / "credentials" / "node.credential"
    for name in NAMES:
        nodes.start(
            name,
            secured,
            NAMES,
            zookeeper={"hosts": secured, "session_timeout": 2.0, "credential_file": str(node_file)},
            drivers={"compute": "libvirt"},
            compute_libvirt={"uri": private_hypervisor(tmp_path, name)},
        )
    with Cluster.connect(secured, credential=credentials["operator"]) as cluster:
        wait_until(compute_nodes_ready(cluster, 2), what="two nodes running on the secured cluster")
        cluster.vms.define(domain_xml("vm1"), target="hv1")
        cluster.vms.start("vm1")
        wait_until(lambda: cluster.vms.get("vm1").observed == "running", what="vm1 running")
        cluster.api_keys.add("ci", "operator")
        cluster.plugin_secrets("acme").set("a/b", 1)
    with Cluster.connect(secured, credential=credentials["node"]) as node:
        assert acl_tree.check(node.zk) == []
        assert node.zk.get_json(f"{paths.SECRET_PLUGINS}/acme/a/b") == 1


def test_pvcd_without_the_credential_stops_with_one_line(secured: str, nodes: Nodes) -> None:
    node = nodes.start("hv1", secured)
    assert node.process is not None and node.process.wait(30) == 1
    assert f"the cluster at {secured} is secured and this connection has no ZooKeeper credential" in node.log()


def test_cluster_init_secure_secures_an_open_tree_in_place(zk_hosts: str, cluster: Cluster, tmp_path: Path) -> None:
    cluster.plugin_data("acme").set("jobs/1", {"state": "done"})
    cluster.api_keys.add("ci", "read")
    directory = tmp_path / "credentials"
    env = {"PVC_CONNECTION": zk_hosts}
    result = run_pvc("cluster", "init", "--secure", str(directory), env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("cluster secured (schema version 6): an ACL on ")
    for identity in ("node", "operator", "read"):
        path = directory / f"{identity}.credential"
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.read_text().startswith(f"pvc-{identity}:")
    credentials = {i: Credential.from_file(directory / f"{i}.credential") for i in ("node", "operator", "read")}
    try:
        with Cluster.connect(zk_hosts, credential=credentials["node"]) as node:
            assert acl_tree.check(node.zk) == []
            assert node.plugin_data("acme").get("jobs/1") == {"state": "done"}  # nothing lost
            assert "hash" in node.api_keys.hashes()["ci"]
        # again: the same credentials are kept, and nothing changes
        again = run_pvc("cluster", "init", "--secure", str(directory), env=env)
        assert again.returncode == 0, again.stderr
        env["PVC_ZOOKEEPER_CREDENTIAL_FILE"] = str(directory / "read.credential")
        listed = json.loads(run_pvc("api", "key", "list", "-o", "json", env=env).stdout)
        assert [key["name"] for key in listed] == ["ci"]
    finally:
        remove_secured_tree(zk_hosts, credentials["node"])


def test_a_credential_file_readable_by_others_is_refused(tmp_path: Path, zk_hosts: str) -> None:
    path = tmp_path / "loose.credential"
    path.write_text("pvc-operator:x\n")
    path.chmod(0o644)
    result = run_pvc("node", "list", env={"PVC_CONNECTION": zk_hosts, "PVC_ZOOKEEPER_CREDENTIAL_FILE": str(path)})
    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"pvc: error: the ZooKeeper credential file {path} is readable by others: chmod 600 {path}"
    )
