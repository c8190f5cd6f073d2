"""The storage-ceph plugin on a running cluster: two pvcds with the ceph driver and the plugin, a real Ceph
cluster, and ``pvc storage ...`` over ZooKeeper and over the API. Every command, the refusals that name the
VMs using a pool or volume, bad input, and VMs whose disks are RBD volumes."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pvc_api.testing import KEY, start_api, stop_api
from pvc_cli.remote import RemoteCluster
from pvc_core.client import Cluster
from pvc_core.errors import AlreadyExists, Conflict, InvalidRequest, NotFound
from pvc_core.testing import Nodes, domain_xml, run_pvc, wait_until
from pvc_core.testing.compute import private_hypervisor
from pvc_storage_ceph.testing import CephCluster

pytestmark = pytest.mark.zk
NAMES = ["hv1", "hv2"]
PLUGIN = "storage-ceph"


def storage_node(nodes: Nodes, name: str, zk_hosts: str, ceph: CephCluster) -> None:
    nodes.start(
        name,
        zk_hosts,
        NAMES,
        drivers={"compute": "libvirt", "storage": "ceph"},
        compute_libvirt={"uri": private_hypervisor(nodes.directory, name)},
        storage_ceph={
            "conffile": str(ceph.conffile),
            "keyring": str(ceph.keyring),
            "refresh_interval": 1.0,
            "osd_directory": str(nodes.directory / f"{name}-osds"),
        },
        plugins={"enable": ["storage-ceph"]},
        vms={"shutdown_timeout": 5.0, "resync_interval": 1.0},
    )


@pytest.fixture
def storage_cluster(cluster: Cluster, zk_hosts: str, nodes: Nodes, ceph_cluster: CephCluster) -> Iterator[Cluster]:
    for name in NAMES:
        storage_node(nodes, name, zk_hosts, ceph_cluster)
    wait_until(
        lambda: cluster.primary() and sum(v.alive and v.daemon_state == "run" for v in cluster.nodes()) == 2,
        what="two storage nodes and a primary",
    )
    try:
        yield cluster
        for pool in ("vms", "other"):  # the Ceph cluster lives for the session: leave it as found
            with contextlib.suppress(NotFound, Conflict):
                cluster.plugin_call(PLUGIN, "pool.remove", {"name": pool, "yes": True})
    finally:
        stop_osds(nodes.directory)


def stop_osds(directory: Path) -> None:
    """Kill the OSDs the nodes' pvcds started (in sessions of their own, they outlive pvcd), by their PID files."""
    for pid_file in directory.glob("*-osds/ceph-*/pid"):
        with contextlib.suppress(ValueError, OSError):
            pid = int(pid_file.read_text())
            if b"ceph-osd" in Path(f"/proc/{pid}/cmdline").read_bytes():
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def remote(tmp_path: Path, zk_hosts: str) -> Iterator[RemoteCluster]:
    process, port = start_api(tmp_path, zk_hosts, plugins=[PLUGIN])
    yield RemoteCluster(f"http://127.0.0.1:{port}", KEY)
    stop_api(process)


def pvc(zk_hosts: str, *args: str) -> str:
    result = run_pvc("-c", zk_hosts, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def pvc_fails(zk_hosts: str, *args: str) -> tuple[int, str]:
    result = run_pvc("-c", zk_hosts, *args)
    assert result.returncode != 0, result.stdout
    return result.returncode, result.stderr.strip()


def as_json(zk_hosts: str, *args: str) -> Any:
    return json.loads(pvc(zk_hosts, *args, "-o", "json"))


def test_pools_volumes_and_snapshots_through_pvc(storage_cluster: Cluster, zk_hosts: str) -> None:
    assert "added pool vms" in pvc(zk_hosts, "storage", "pool", "add", "vms", "--replicas", "1", "--min-replicas", "1")
    assert [p["name"] for p in as_json(zk_hosts, "storage", "pool", "list")] == ["vms"]
    assert "pool vms: 2 copies, min 1" in pvc(
        zk_hosts, "storage", "pool", "set", "vms", "--replicas", "2", "--pgs", "16"
    )
    assert [(p["replicas"], p["pgs"]) for p in as_json(zk_hosts, "storage", "pool", "list")] == [(2, 16)]
    assert "vms" in pvc(zk_hosts, "storage", "util")
    assert as_json(zk_hosts, "storage", "status")["health"] in ("ok", "warn")

    assert "(16.0M)" in pvc(zk_hosts, "storage", "volume", "add", "vms/disk0", "16M")
    assert pvc(zk_hosts, "storage", "volume", "resize", "vms/disk0", "32M").strip() == "volume vms/disk0 is 32.0M"
    code, error = pvc_fails(zk_hosts, "storage", "volume", "resize", "vms/disk0", "8M")
    assert (code, error) == (3, "pvc: error: shrinking vms/disk0 loses data; confirm it (--yes) to shrink")
    pvc(zk_hosts, "storage", "volume", "resize", "vms/disk0", "8M", "--yes")
    pvc(zk_hosts, "storage", "volume", "rename", "vms/disk0", "root")
    pvc(zk_hosts, "storage", "volume", "snapshot", "add", "vms/root", "clean")
    pvc(zk_hosts, "storage", "volume", "snapshot", "rename", "vms/root", "clean", "pristine")
    assert [s["name"] for s in as_json(zk_hosts, "storage", "volume", "snapshot", "list", "vms/root")] == ["pristine"]
    pvc(zk_hosts, "storage", "volume", "snapshot", "rollback", "vms/root", "pristine")
    pvc(zk_hosts, "storage", "volume", "clone", "vms/root", "copy", "--snapshot", "pristine")
    listed = as_json(zk_hosts, "storage", "volume", "list")
    assert [(v["name"], v["size_bytes"], v["parent"]) for v in listed] == [
        ("copy", 8 << 20, "vms/root@pristine"),
        ("root", 8 << 20, ""),
    ]
    info = as_json(zk_hosts, "storage", "volume", "info", "vms/root")
    assert (info["snapshots"], info["vms"]) == (1, [])
    pvc(zk_hosts, "storage", "volume", "remove", "vms/copy")
    pvc(zk_hosts, "storage", "volume", "snapshot", "remove", "vms/root", "pristine")
    assert [v["name"] for v in as_json(zk_hosts, "storage", "volume", "list", "--pool", "vms")] == ["root"]


def test_bad_input_is_one_line_and_changes_nothing(storage_cluster: Cluster, zk_hosts: str) -> None:
    pvc(zk_hosts, "storage", "pool", "add", "vms", "--replicas", "1", "--min-replicas", "1")
    pvc(zk_hosts, "storage", "volume", "add", "vms/disk0", "16M")
    refusals = {
        ("volume", "add", "nosuch/disk0", "16M"): (4, "no pool named 'nosuch'"),
        ("volume", "add", "vms/disk0", "16M"): (5, "the name is in use"),
        ("volume", "add", "vms/disk1", "lots"): (3, "size: 'lots' is not a size such as 10G or 512M"),
        ("volume", "add", "vms/disk1", "0"): (3, "size: a size must be positive"),
        ("volume", "info", "vms/nosuch"): (4, "no volume vms/nosuch"),
        ("pool", "add", "vms", "--replicas", "1", "--min-replicas", "1"): (5, "a pool named 'vms' already exists"),
        ("pool", "remove", "vms"): (3, "confirm it (--yes)"),
        ("pool", "remove", "nosuch", "--yes"): (4, "no pool named 'nosuch'"),
        ("osd", "set", "nosuchflag"): (3, "'nosuchflag' is not an OSD flag"),
        ("osd", "in", "99"): (4, "no OSD osd.99"),
    }
    for args, (code, message) in refusals.items():
        got_code, error = pvc_fails(zk_hosts, "storage", *args)
        assert got_code == code and message in error and "\n" not in error, (args, error)
    assert [v["name"] for v in as_json(zk_hosts, "storage", "volume", "list")] == ["disk0"]


def test_the_api_routes_and_the_python_client_say_the_same(
    storage_cluster: Cluster, remote: RemoteCluster, zk_hosts: str
) -> None:
    remote.plugin_call(PLUGIN, "pool.add", {"name": "vms", "replicas": 1, "min_replicas": 1})
    remote.plugin_call(PLUGIN, "volume.add", {"pool": "vms", "name": "disk0", "size": "4M"})
    with pytest.raises(AlreadyExists):
        remote.plugin_call(PLUGIN, "volume.add", {"pool": "vms", "name": "disk0", "size": "4M"})
    with pytest.raises(InvalidRequest) as refused:
        remote.plugin_call(PLUGIN, "volume.add", {"pool": "vms", "name": "disk1", "size": -3})
    assert refused.value.field == "size"
    routes = remote.call("GET", "/plugins/storage/volume")
    assert (
        routes == storage_cluster.plugin_call(PLUGIN, "volume.list") == as_json(zk_hosts, "storage", "volume", "list")
    )
    remote.call("POST", "/plugins/storage/volume/vms/disk0/snapshot", {"name": "s1"})
    assert [s["name"] for s in remote.call("GET", "/plugins/storage/volume/vms/disk0/snapshot")] == ["s1"]
    with pytest.raises(NotFound, match="no volume vms/nosuch"):
        remote.call("GET", "/plugins/storage/volume/vms/nosuch")
    document = remote.call("GET", "/openapi.json")
    assert "/api/v1/plugins/storage/volume/{pool}/{name}" in document["paths"]


def test_a_vm_with_rbd_volumes_starts_and_keeps_them_from_being_removed(
    storage_cluster: Cluster, zk_hosts: str, tmp_path: Path
) -> None:
    pvc(zk_hosts, "storage", "pool", "add", "vms", "--replicas", "1", "--min-replicas", "1")
    pvc(zk_hosts, "storage", "volume", "add", "vms/web1-root", "16M")
    pvc(zk_hosts, "storage", "volume", "add", "vms/web1-data", "16M")
    wait_until(
        lambda: all("vms/*" in v.record.attachments.get("volume", {}) for v in storage_cluster.nodes()),
        what="both nodes offering pool vms",
    )
    xml = tmp_path / "web1.xml"
    xml.write_text(domain_xml("web1"))
    code, error = pvc_fails(zk_hosts, "vm", "define", str(xml), "--volume", "nosuch/root")
    assert "nosuch/root" in error
    pvc(zk_hosts, "vm", "define", str(xml), "--volume", "vms/web1-root")
    pvc(zk_hosts, "vm", "volume", "add", "web1", "vms/web1-data", "--bus", "scsi")
    assert [(v["pool"], v["volume"], v["bus"]) for v in as_json(zk_hosts, "vm", "volume", "list", "web1")] == [
        ("vms", "web1-root", "virtio"),
        ("vms", "web1-data", "scsi"),
    ]
    pvc(zk_hosts, "vm", "start", "web1", "--wait")
    assert storage_cluster.vms.get("web1").state == "start"

    for args, message in {
        ("volume", "remove", "vms/web1-root"): "cannot remove vms/web1-root: VM web1 uses it",
        ("volume", "rename", "vms/web1-data", "x"): "cannot rename vms/web1-data: VM web1 uses it",
        ("pool", "remove", "vms", "--yes"): "cannot remove pool vms: VM web1 has volumes in it",
    }.items():
        code, error = pvc_fails(zk_hosts, "storage", *args)
        assert code == 5 and message in error, error
    pvc(zk_hosts, "storage", "volume", "snapshot", "add", "vms/web1-root", "s1")
    code, error = pvc_fails(zk_hosts, "storage", "volume", "snapshot", "rollback", "vms/web1-root", "s1")
    assert "while VM web1 runs: stop it first" in error
    assert [v["vms"] for v in as_json(zk_hosts, "storage", "volume", "list")] == [["web1"], ["web1"]]

    pvc(zk_hosts, "vm", "stop", "web1", "--wait")
    pvc(zk_hosts, "storage", "volume", "snapshot", "rollback", "vms/web1-root", "s1")
    pvc(zk_hosts, "vm", "volume", "remove", "web1", "vms/web1-data")
    pvc(zk_hosts, "storage", "volume", "remove", "vms/web1-data")
    pvc(zk_hosts, "vm", "remove", "web1", "--yes")
    pvc(zk_hosts, "storage", "pool", "remove", "vms", "--yes")


def test_upload_and_download_stream_a_qcow2_image(storage_cluster: Cluster, zk_hosts: str, tmp_path: Path) -> None:
    import shutil
    import subprocess

    if shutil.which("qemu-img") is None:
        pytest.skip("qemu-img (qemu-utils) is not installed")
    raw = tmp_path / "disk.raw"
    with raw.open("wb") as handle:
        handle.truncate(3 << 20)
        handle.seek(1 << 20)
        handle.write(b"a guest's root file system" * 100)
    qcow2 = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", str(raw), str(qcow2)], check=True)
    pvc(zk_hosts, "storage", "pool", "add", "vms", "--replicas", "1", "--min-replicas", "1")
    assert "uploaded" in pvc(zk_hosts, "storage", "volume", "upload", "vms/image", str(qcow2))
    assert as_json(zk_hosts, "storage", "volume", "info", "vms/image")["size_bytes"] == 3 << 20
    back = tmp_path / "back.raw"
    pvc(zk_hosts, "storage", "volume", "download", "vms/image", str(back))
    assert back.read_bytes() == raw.read_bytes()
    code, error = pvc_fails(zk_hosts, "storage", "volume", "upload", "vms/image", str(qcow2))
    assert code == 5 and "the name is in use" in error  # the name is in use: nothing was written over


def test_osds_are_added_marked_out_and_in_and_removed_with_the_cluster_usable(
    storage_cluster: Cluster, zk_hosts: str, ceph_cluster: CephCluster
) -> None:
    added = pvc(zk_hosts, "storage", "osd", "add", "hv1", "--size", "256M")
    osd_id = int(added.split()[1].removeprefix("osd."))
    wait_until(
        lambda: any(o["id"] == osd_id and o["up"] for o in as_json(zk_hosts, "storage", "osd", "list")),
        what=f"osd.{osd_id} up",
    )
    assert next(o for o in as_json(zk_hosts, "storage", "osd", "list") if o["id"] == osd_id)["node"] == "hv1"

    pvc(zk_hosts, "storage", "pool", "add", "vms", "--replicas", "1", "--min-replicas", "1")
    pvc(zk_hosts, "storage", "osd", "out", str(osd_id))
    assert not next(o for o in as_json(zk_hosts, "storage", "osd", "list") if o["id"] == osd_id)["in"]
    pvc(zk_hosts, "storage", "volume", "add", "vms/while-out", "8M")  # the cluster stays usable
    pvc(zk_hosts, "storage", "osd", "in", str(osd_id))
    pvc(zk_hosts, "storage", "osd", "set", "noout")
    assert "noout" in as_json(zk_hosts, "storage", "status")["flags"]
    pvc(zk_hosts, "storage", "osd", "unset", "noout")

    code, error = pvc_fails(zk_hosts, "storage", "osd", "remove", str(osd_id))
    assert code == 3 and "needs confirming (--yes)" in error
    pvc(zk_hosts, "storage", "pool", "add", "other", "--replicas", "4", "--min-replicas", "1")
    code, error = pvc_fails(zk_hosts, "storage", "osd", "remove", str(osd_id), "--yes")
    assert code == 5 and "pool other keeps 4 copies on different nodes" in error, error
    pvc(zk_hosts, "storage", "pool", "remove", "other", "--yes")
    assert f"removed osd.{osd_id} (on hv1)" in pvc(zk_hosts, "storage", "osd", "remove", str(osd_id), "--yes")
    assert osd_id not in [o["id"] for o in as_json(zk_hosts, "storage", "osd", "list")]
    assert storage_cluster.zk.get_json("/plugins/storage-ceph/osds/hv1") == []  # hv1 stopped and forgot it


def test_cephs_health_is_a_fault_and_its_figures_are_metrics(
    storage_cluster: Cluster, remote: RemoteCluster, zk_hosts: str
) -> None:
    pvc(zk_hosts, "storage", "pool", "add", "vms", "--replicas", "1", "--min-replicas", "1")
    wait_until(lambda: not storage_cluster.faults(), what="no fault while Ceph is healthy")
    pvc(zk_hosts, "storage", "osd", "set", "noout")  # Ceph warns about the flag: HEALTH_WARN
    fault = wait_until(
        lambda: next((f for f in storage_cluster.faults() if f["node"] == "storage"), None),
        what="the storage fault",
    )
    assert fault["message"].startswith("Ceph is HEALTH_WARN: OSDMAP_FLAGS: noout flag(s) set")
    assert "fault storage:" in pvc(zk_hosts, "cluster", "status")
    with urllib.request.urlopen(remote.url.replace("/api/v1", "/metrics"), timeout=30) as reply:
        metrics = reply.read().decode()
    assert "pvc_storage_health 1.0" in metrics
    assert 'pvc_storage_osd_up{node="hv0",osd="0"} 1.0' in metrics
    assert 'pvc_storage_pool_objects{pool="vms"}' in metrics
    pvc(zk_hosts, "storage", "osd", "unset", "noout")
    wait_until(lambda: not storage_cluster.faults(), what="the storage fault cleared")


def test_a_bluestore_osd_on_a_device_is_made_once_and_restarts_on_its_data(
    storage_cluster: Cluster, zk_hosts: str, nodes: Nodes, tmp_path: Path
) -> None:
    device = tmp_path / "disk1.img"  # a file standing for hv1's disk: pvc makes it (sparse)
    added = pvc(zk_hosts, "storage", "osd", "add", "hv1", "--objectstore", "bluestore", "--device", str(device),
                "--size", "2G")  # fmt: skip
    osd_id = int(added.split()[1].removeprefix("osd."))
    assert f"(bluestore on {device}, 2.0G)" in added, added
    wait_until(
        lambda: any(o["id"] == osd_id and o["up"] for o in as_json(zk_hosts, "storage", "osd", "list")),
        what=f"osd.{osd_id} up",
    )
    _, error = pvc_fails(zk_hosts, "storage", "osd", "add", "hv1", "--objectstore", "bluestore", "--device",
                            str(device))  # fmt: skip
    assert "already holds an OSD of hv1" in error
    used = tmp_path / "used.img"
    used.write_bytes(b"\0" * 4096 + b"someone's data")
    _, error = pvc_fails(zk_hosts, "storage", "osd", "add", "hv1", "--objectstore", "bluestore", "--device",
                            str(used))  # fmt: skip
    assert f"device: {used} is not empty" in error and used.read_bytes().endswith(b"someone's data")
    _, error = pvc_fails(zk_hosts, "storage", "osd", "add", "hv1", "--objectstore", "bluestore")
    assert "device: a bluestore OSD needs a device" in error

    # killed (a crash, a power cut): hv1's pvcd starts it again on the store it has, not a new one
    data = nodes.directory / "hv1-osds" / f"ceph-{osd_id}"
    made = (data / "fsid").stat().st_mtime_ns
    pid = int((data / "pid").read_text())
    os.kill(pid, signal.SIGKILL)
    wait_until(
        lambda: (data / "pid").exists() and int((data / "pid").read_text()) != pid,
        timeout=30,
        what=f"osd.{osd_id} started again",
    )
    assert (data / "fsid").stat().st_mtime_ns == made  # no --mkfs: its data is kept
    wait_until(
        lambda: any(o["id"] == osd_id and o["up"] for o in as_json(zk_hosts, "storage", "osd", "list")),
        timeout=60,
        what=f"osd.{osd_id} up again",
    )
    assert f"removed osd.{osd_id} (on hv1)" in pvc(zk_hosts, "storage", "osd", "remove", str(osd_id), "--yes")
    assert not data.exists() and device.exists()  # its files gone; the device is the operator's
