"""TLS between PVC and ZooKeeper, on a real server's secure client port (ZooKeeper 3.8, Netty): pvcd, the
Python bindings and ``pvc`` work over it with the CA that signed its certificate, and say in one line when
they cannot (no TLS, or another CA)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support import Nodes, run_pvc, wait_until

from pvc_core.client import Cluster
from pvc_core.errors import ZooKeeperUnavailable
from pvc_core.testing import ZooKeeper
from pvc_core.testing.tls import make_certificates
from pvc_core.zk.security import TlsFiles


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ZooKeeper]:
    directory = Path(tmp_path_factory.mktemp("tls-zookeeper"))
    material = make_certificates(directory / "tls", ["127.0.0.1"])
    zookeeper = ZooKeeper(directory / "zk", size=1, base_port=26810, tls=material)
    zookeeper.start()
    with Cluster.connect(zookeeper.secure_hosts, tls=TlsFiles(str(material.ca_file))) as cluster:
        cluster.init()
    yield zookeeper
    zookeeper.stop()


def ca(server: ZooKeeper) -> str:
    assert server.tls is not None
    return str(server.tls.ca_file)


def test_pvcd_joins_over_tls_and_pvc_reads_it_over_tls(server: ZooKeeper, nodes: Nodes) -> None:
    hosts = server.secure_hosts
    nodes.start("hv1", hosts, zookeeper={"hosts": hosts, "session_timeout": 2.0, "tls": {"ca_file": ca(server)}})
    with Cluster.connect(hosts, tls=TlsFiles(ca(server))) as cluster:
        wait_until(lambda: cluster.node("hv1").alive and cluster.node("hv1").daemon_state == "run", what="hv1")
    listed = run_pvc("node", "list", "-o", "json", env={"PVC_CONNECTION": hosts, "PVC_ZOOKEEPER_CA_FILE": ca(server)})
    assert listed.returncode == 0 and '"hv1"' in listed.stdout, listed.stderr


def test_a_client_without_tls_gets_nowhere_on_the_secure_port(server: ZooKeeper) -> None:
    expected = f"cannot reach ZooKeeper at {server.secure_hosts} within 3s$"
    with pytest.raises(ZooKeeperUnavailable, match=expected), Cluster.connect(server.secure_hosts, timeout=3):
        pass


def test_another_ca_is_refused_in_one_line(server: ZooKeeper, tmp_path: Path) -> None:
    other = make_certificates(tmp_path / "other", ["127.0.0.1"])
    result = run_pvc(
        "node",
        "list",
        env={"PVC_CONNECTION": server.secure_hosts, "PVC_ZOOKEEPER_CA_FILE": str(other.ca_file), "PVC_TIMEOUT": "3"},
    )
    assert result.returncode == 8
    assert result.stderr.strip() == (
        f"pvc: error: cannot reach ZooKeeper at {server.secure_hosts} within 3s over TLS (are these its secure "
        f"client ports, and did the CA in {other.ca_file} sign its certificate?)"
    )


def test_a_missing_ca_file_is_one_line(server: ZooKeeper, tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.pem"
    result = run_pvc("node", "list", env={"PVC_CONNECTION": server.secure_hosts, "PVC_ZOOKEEPER_CA_FILE": str(missing)})
    assert result.returncode == 1
    assert result.stderr.strip() == f"pvc: error: the ZooKeeper TLS CA file {missing} cannot be read"
