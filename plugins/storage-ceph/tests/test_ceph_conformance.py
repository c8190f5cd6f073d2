"""The storage conformance suite against the ceph driver, on a real throwaway Ceph cluster (memstore OSDs),
and what only Ceph shows: the disk a VM gets, Ceph's errors as one line, a cluster that does not answer."""

from __future__ import annotations

import base64
import os
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from xml.etree import ElementTree

import pytest

from pvc_core.client import Cluster
from pvc_core.errors import InvalidRequest, NotFound
from pvc_core.roles.storage import StorageDriver, StorageError
from pvc_core.testing import wait_until
from pvc_core.testing.storage_conformance import StorageConformance
from pvc_core.vms.model import VmVolume
from pvc_core.zk.session import ZkSession
from pvc_storage_ceph.driver import CephSettings, CephStorage, client_addresses
from pvc_storage_ceph.testing import CephCluster

pytestmark = pytest.mark.zk
MIB = 1024 * 1024


def stand_in_host(settings: CephSettings, zk: ZkSession, node: str = "test") -> Any:
    """Just what the driver reads of the host: its config and its ZooKeeper session (no daemon is needed)."""
    return SimpleNamespace(config=SimpleNamespace(section_or_default=lambda _name, _model: settings), node=node, zk=zk)


def driver_for(ceph_cluster: CephCluster, zk: ZkSession, node: str = "test", **settings: Any) -> CephStorage:
    chosen = CephSettings(conffile=str(ceph_cluster.conffile), keyring=str(ceph_cluster.keyring), **settings)
    return CephStorage(stand_in_host(chosen, zk, node), "ceph")


@pytest.fixture
def ceph_driver(ceph_cluster: CephCluster, cluster: Cluster) -> Iterator[CephStorage]:
    driver = driver_for(ceph_cluster, cluster.zk)
    yield driver
    driver.close()


class TestCephConformance(StorageConformance):
    @pytest.fixture
    def make_driver(self, ceph_cluster: CephCluster, cluster: Cluster) -> Iterator[Callable[[], StorageDriver]]:
        made: list[CephStorage] = []

        def make() -> StorageDriver:
            made.append(driver_for(ceph_cluster, cluster.zk))
            return made[-1]

        yield make
        for driver in made:
            driver.close()

    @pytest.fixture
    def pool(self) -> str:
        return "pvc-conformance"


def test_a_vm_disk_is_an_rbd_network_disk_with_the_clients_key(
    ceph_driver: CephStorage, ceph_cluster: CephCluster
) -> None:
    ceph_driver.add_pool("vms", replicas=1, min_replicas=1)
    try:
        ceph_driver.add_volume("vms", "web1-disk0", 16 * MIB)
        volume = VmVolume("vms", "web1-disk0", "virtio", "vda")
        device = ceph_driver.attach("6f1e0e36-9f35-4a7e-8d7c-0d5d3b8a4e11", volume)
        disk = ElementTree.fromstring(device.xml)
        source = disk.find("source")
        assert source is not None and (source.get("protocol"), source.get("name")) == ("rbd", "vms/web1-disk0")
        assert [h.get("port") for h in source.findall("host")]  # the monitors, from the cluster's monmap
        assert disk.find("target").get("dev") == "vda"  # type: ignore[union-attr]
        key = next(
            line.split("=", 1)[1].strip() for line in ceph_cluster.keyring.read_text().splitlines() if "key" in line
        )
        assert device.secret is not None and device.secret.usage == "ceph"
        assert device.secret.value == base64.b64decode(key)  # libvirt takes the key's bytes
        assert (device.kind, device.key) == ("volume", "vms/web1-disk0")
    finally:
        ceph_driver.remove_pool("vms")


def test_cephs_refusals_are_one_line_errors(ceph_driver: CephStorage) -> None:
    with pytest.raises(NotFound, match="no pool named 'nosuch'"):
        ceph_driver.volumes("nosuch")
    ceph_driver.add_pool("vms", replicas=1, min_replicas=1)
    try:
        ceph_driver.add_volume("vms", "d", 8 * MIB)
        with pytest.raises(InvalidRequest, match="shrinking vms/d loses data"):
            ceph_driver.resize_volume("vms", "d", 4 * MIB)
        with pytest.raises(InvalidRequest, match="is not a valid volume name"):
            ceph_driver.add_volume("vms", "../d", 8 * MIB)
        with pytest.raises(InvalidRequest, match="must be positive"):
            ceph_driver.add_volume("vms", "e", 0)
        with pytest.raises(NotFound, match="no volume vms/nosuch"):
            ceph_driver.volume("vms", "nosuch")
    finally:
        ceph_driver.remove_pool("vms")


def test_a_cluster_that_does_not_answer_is_a_clear_error_within_the_timeout_and_no_failed_start(tmp_path: Any) -> None:
    conf = tmp_path / "ceph.conf"
    conf.write_text("[global]\nmon host = 127.0.0.1:1\nauth client required = none\n")
    settings = CephSettings(conffile=str(conf), timeout=2.0)
    driver = CephStorage(stand_in_host(settings, zk=None), "ceph")  # type: ignore[arg-type]
    # made all the same: a node starts while Ceph does not answer; each operation tries again
    started = time.monotonic()
    with pytest.raises(StorageError, match=r"^cannot connect to Ceph with .*ceph.conf: .*timed out"):
        driver.health()
    assert time.monotonic() - started < 2.0 + 2.0
    driver.close()


def test_a_fenced_nodes_writes_fail_and_its_lock_passes_to_the_next_owner(
    ceph_cluster: CephCluster, cluster: Cluster
) -> None:
    """Storage-side fencing proven by trying: hv9 (a client of its own) writes a VM disk and holds its lock;
    after the fence its next write fails, the lock is free, and the next owner reads what hv9 wrote."""
    primary = driver_for(ceph_cluster, cluster.zk, node="hv1")
    fenced = driver_for(ceph_cluster, cluster.zk, node="hv9")  # records hv9's client address
    primary.add_pool("vms", replicas=1, min_replicas=1)
    try:
        primary.add_volume("vms", "web1-disk0", 16 * MIB)
        with fenced._image("vms", "web1-disk0") as image:
            image.write(b"written before the fence", 0)  # takes the exclusive lock
            # hv1 and hv9 share 127.0.0.1 here: only hv9's own client instances may be cut off, not the address
            blocked = primary.fence_client("hv9", ["vms/web1-disk0"])
            assert blocked and all(not a.endswith(":0/0") for a in blocked)
            with pytest.raises(fenced.rbd.ConnectionShutdown):
                image.write(b"written after the fence", 0)
        assert primary.fenced_clients("hv9") == sorted(blocked)
        with primary._image("vms", "web1-disk0") as image:
            assert list(image.lock_get_owners()) == []  # broken, taken once, and free for the recovered VM
            assert image.read(0, 24) == b"written before the fence"
            image.write(b"written by the next owner", 0)
        assert set(blocked) <= set(primary.blocklist())
        assert sorted(primary.readmit_client("hv9")) == sorted(blocked)
        assert not set(blocked) & set(primary.blocklist())
    finally:
        fenced.close()
        primary.remove_pool("vms")
        primary.close()


def test_a_monitor_that_stops_answering_is_a_clear_error_not_a_hang(
    ceph_cluster: CephCluster, cluster: Cluster
) -> None:
    driver = driver_for(ceph_cluster, cluster.zk, timeout=2.0)
    assert ceph_cluster.mon.process is not None
    pid = ceph_cluster.mon.process.pid
    os.kill(pid, signal.SIGSTOP)  # alive, holding its sockets, answering nothing
    try:
        wait_until(lambda: "T (stopped)" in Path(f"/proc/{pid}/status").read_text(), what="the monitor stopped")
        started = time.monotonic()
        with pytest.raises(StorageError, match=r"^ceph health failed: timed out$"):
            driver.health()
        assert time.monotonic() - started < 2.0 + 2.0  # one command's timeout, not a hang
    finally:
        os.kill(pid, signal.SIGCONT)
        driver.close()
    assert driver_for(ceph_cluster, cluster.zk).health().status in ("ok", "warn")  # and back when it answers


def test_client_addresses_read_librados_form() -> None:
    assert client_addresses("[v2:10.0.0.1:0/123,v1:10.0.0.1:0/123]") == ["10.0.0.1:0/123"]
    assert client_addresses("") == []


def test_an_operation_that_times_out_renews_the_connection(ceph_cluster: CephCluster, cluster: Cluster) -> None:
    """A connection can stay wedged after its node comes back from a power cut; the driver does not keep it:
    the first timed-out operation has a new connection made (and its address recorded for fencing)."""
    driver = driver_for(ceph_cluster, cluster.zk, timeout=2.0)
    driver.add_pool("renew", 1, 1, pgs=8)
    first = driver.cluster
    pids = [osd.process.pid for osd in ceph_cluster.osds if osd.process is not None]
    for pid in pids:
        os.kill(pid, signal.SIGSTOP)
    try:
        for pid in pids:
            wait_until(lambda p=pid: "T (stopped)" in Path(f"/proc/{p}/status").read_text(), what="the OSDs stopped")
        time.sleep(2.0)  # renewals are at most once per timeout
        with pytest.raises(StorageError, match=r"timed out|timeout"):
            driver.volumes("renew")
        wait_until(lambda: driver.cluster is not first, what="a new connection")
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGCONT)
    recorded = cluster.zk.get_json("/plugins/storage-ceph/clients/test") or {}
    assert recorded.get("addrs") == client_addresses(str(driver.cluster.get_addrs()))
    assert recorded["addrs"] != client_addresses(str(first.get_addrs()))
    wait_until(lambda: driver.volumes("renew") == [], what="the renewed connection working")
    driver.remove_pool("renew")
    driver.close()
