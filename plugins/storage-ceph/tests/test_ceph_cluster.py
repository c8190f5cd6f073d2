"""The test cluster runner: a real Ceph cluster that clients can use, and that leaves nothing running."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from pvc_core.testing.processes import is_running
from pvc_storage_ceph.testing import CephCluster

rados = pytest.importorskip("rados", reason="python3-rados is not installed")
rbd = pytest.importorskip("rbd", reason="python3-rbd is not installed")

pytestmark = pytest.mark.zk


@pytest.fixture
def client(ceph_cluster: CephCluster) -> Iterator[rados.Rados]:
    connection = rados.Rados(conffile=str(ceph_cluster.conffile))
    connection.connect(timeout=10)
    try:
        yield connection
    finally:
        connection.shutdown()


def test_every_osd_is_up_and_in(ceph_cluster: CephCluster) -> None:
    osds = ceph_cluster.ceph_json("osd", "dump")["osds"]
    assert [(o["osd"], o["up"], o["in"]) for o in osds] == [(0, 1, 1), (1, 1, 1), (2, 1, 1)]


def test_a_client_writes_and_reads_back_an_rbd_image(client: rados.Rados) -> None:
    pool = f"test-{uuid.uuid4().hex[:8]}"
    client.create_pool(pool)
    try:
        with client.open_ioctx(pool) as ioctx:
            ioctx.application_enable("rbd")
            rbd.RBD().create(ioctx, "disk0", 8 * 1024 * 1024)
            with rbd.Image(ioctx, "disk0") as image:
                image.write(b"pvc" * 1000, 4096)
                assert image.read(4096, 3000) == b"pvc" * 1000
                assert image.size() == 8 * 1024 * 1024
            assert rbd.RBD().list(ioctx) == ["disk0"]
            assert "rbd" in ioctx.application_list()
    finally:
        client.delete_pool(pool)


def test_stop_leaves_no_process_it_started(tmp_path: Path, ceph_cluster: CephCluster) -> None:
    # a second, one-OSD cluster of its own on other ports, beside the session's (which must survive this)
    own = CephCluster(tmp_path, osds=1, mon_port=26791, mon_v1_port=26792, port_min=26900, port_max=26949)
    own.start()
    started = own.pids
    assert len(started) == 3
    own.stop()
    assert [pid for pid in started if is_running(pid)] == []
    assert own.pids == []
    assert (tmp_path / "ceph.conf").exists()  # stop deletes nothing
    assert all(is_running(pid) for pid in ceph_cluster.pids)
