"""VMs on a running cluster, with the libvirt driver on libvirt's test hypervisor (one private per node):
define, list, lifecycle, failures, locking, migration (shutdown + start: the test driver cannot migrate
live), flush and ready, the name index, bad input."""

from __future__ import annotations

import json
import signal
import uuid as uuidlib
from collections.abc import Iterator

import pytest
from support import Nodes, compute_node, domain_xml, run_pvc, wait_until

from pvc_core.client import Cluster
from pvc_core.errors import AlreadyExists, Busy, InvalidRequest, NotFound
from pvc_core.vms.model import VmRecord
from pvc_core.vms.placement import NoPlacement
from pvc_core.zk import paths

NAMES = ["hv1", "hv2", "hv3"]


@pytest.fixture
def vm_cluster(cluster: Cluster, zk_hosts: str, nodes: Nodes) -> Iterator[Cluster]:
    for name in NAMES:
        compute_node(nodes, name, zk_hosts, NAMES)
    wait_until(
        lambda: (
            sum(v.alive and v.daemon_state == "run" and "migration_uri" in v.record.resources for v in cluster.nodes())
            == 3
        ),
        what="three nodes with their hypervisors",
    )
    yield cluster


def settled(cluster: Cluster, name: str, state: str, timeout: float = 15.0) -> object:
    return wait_until(
        lambda: (r := cluster.vms.get(name)).operation is None and r.state == state and r,
        timeout=timeout,
        what=f"VM {name} to settle in {state}",
    )


def test_define_stores_the_vm_stopped_on_a_home_node(vm_cluster: Cluster) -> None:
    record = vm_cluster.vms.define(domain_xml("web1", 1024, 2), tags=["web"], autostart=True)
    assert record.state == "stop" and record.node in NAMES
    assert (record.memory_mib, record.vcpus, record.tags, record.autostart) == (1024, 2, ("web",), True)
    assert vm_cluster.zk.get(paths.domain_name("web1"))[0].decode() == record.uuid  # type: ignore[index]
    assert record.uuid in vm_cluster.zk.children(paths.placement(record.node))
    assert "<name>web1</name>" in vm_cluster.vms.dump("web1")


def test_bad_or_duplicate_definitions_are_refused_and_write_nothing(vm_cluster: Cluster) -> None:
    with pytest.raises(InvalidRequest, match="invalid domain XML"):
        vm_cluster.vms.define("<domain type='test'><name>x</name>")
    fixed = str(uuidlib.uuid4())
    vm_cluster.vms.define(domain_xml("one", uuid=fixed))
    with pytest.raises(AlreadyExists, match="a VM named 'one' already exists"):
        vm_cluster.vms.define(domain_xml("one"))
    with pytest.raises(AlreadyExists, match=f"a VM with UUID {fixed} already exists"):
        vm_cluster.vms.define(domain_xml("two", uuid=fixed))
    with pytest.raises(NotFound, match="no node named 'hv9'"):
        vm_cluster.vms.define(domain_xml("three"), target="hv9")
    with pytest.raises(InvalidRequest, match="unknown node selector 'cheapest'"):
        vm_cluster.vms.define(domain_xml("four"), selector="cheapest")
    assert [r.name for r in vm_cluster.vms.list()] == ["one"]


def test_start_shutdown_stop_restart_disable(vm_cluster: Cluster) -> None:
    vm_cluster.vms.define(domain_xml("life"), target="hv2")
    vm_cluster.vms.start("life")
    record = settled(vm_cluster, "life", "start")
    assert record.observed == "running" and record.node == "hv2"  # type: ignore[attr-defined]
    vm_cluster.vms.shutdown("life")
    assert settled(vm_cluster, "life", "stop").observed in ("absent", "shutoff")  # type: ignore[attr-defined]
    vm_cluster.vms.start("life")
    settled(vm_cluster, "life", "start")
    vm_cluster.vms.restart("life")
    assert settled(vm_cluster, "life", "start").observed == "running"  # type: ignore[attr-defined]
    vm_cluster.vms.stop("life")
    settled(vm_cluster, "life", "stop")
    vm_cluster.vms.start("life")
    settled(vm_cluster, "life", "start")
    vm_cluster.vms.disable("life")
    settled(vm_cluster, "life", "disable")


def test_a_failed_start_puts_the_vm_in_fail_with_the_hypervisor_reason(vm_cluster: Cluster) -> None:
    vm_cluster.vms.define(domain_xml("broken", os_type="exe"))
    vm_cluster.vms.start("broken")
    record = settled(vm_cluster, "broken", "fail")
    assert "init binary must be specified" in record.failure_reason  # type: ignore[attr-defined]
    listed = json.loads(run_pvc("vm", "list", "-o", "json", env={"PVC_CONNECTION": vm_cluster.zk.hosts}).stdout)
    assert listed[0]["state"] == "fail" and "init binary" in listed[0]["failure_reason"]


def test_a_vm_that_fits_nowhere_is_refused(vm_cluster: Cluster) -> None:
    vm_cluster.vms.define(domain_xml("huge", 1024), target="hv1")
    vm_cluster.zk.set(  # grow it past every node's 4 GiB (modify checks only the XML)
        paths.domain(vm_cluster.vms.get("huge").uuid),
        json.dumps(vm_cluster.vms.get("huge").with_(memory_mib=6000).to_dict()).encode(),
    )
    with pytest.raises(NoPlacement, match=r"no node can take VM huge \(hv1: 4096 MiB unprovisioned, needs 6000"):
        vm_cluster.vms.start("huge")
    assert vm_cluster.vms.get("huge").state == "stop"


def test_placement_spreads_running_vms(vm_cluster: Cluster) -> None:
    for i in range(3):
        vm_cluster.vms.define(domain_xml(f"spread{i}", 1024), selector="memprov")
        vm_cluster.vms.start(f"spread{i}")
        settled(vm_cluster, f"spread{i}", "start")
    assert sorted(r.node for r in vm_cluster.vms.list()) == NAMES


def test_a_second_operation_on_a_busy_vm_is_refused(vm_cluster: Cluster, nodes: Nodes) -> None:
    vm_cluster.vms.define(domain_xml("locked"), target="hv3")
    hv3 = next(n for n in nodes.started if n.name == "hv3")
    hv3.signal(signal.SIGSTOP)  # hv3 cannot settle the VM: its operation stays in progress
    try:
        vm_cluster.vms.start("locked")
        with pytest.raises(Busy, match=r"VM locked is busy: start in progress on hv3"):
            vm_cluster.vms.stop("locked")
    finally:
        hv3.signal(signal.SIGCONT)
    settled(vm_cluster, "locked", "start")
    vm_cluster.vms.stop("locked")  # once settled, the next operation is accepted
    settled(vm_cluster, "locked", "stop")


def test_migrate_unmigrate_and_move(vm_cluster: Cluster) -> None:
    vm_cluster.vms.define(domain_xml("mover"), target="hv1")
    vm_cluster.vms.start("mover")
    settled(vm_cluster, "mover", "start")
    vm_cluster.vms.migrate("mover", "hv2")
    record = settled(vm_cluster, "mover", "start")
    assert (record.node, record.last_node, record.observed) == ("hv2", "hv1", "running")  # type: ignore[attr-defined]
    vm_cluster.vms.unmigrate("mover")
    record = settled(vm_cluster, "mover", "start")
    assert (record.node, record.last_node) == ("hv1", "")  # type: ignore[attr-defined]
    vm_cluster.vms.move("mover", "hv3")
    record = settled(vm_cluster, "mover", "start")
    assert (record.node, record.last_node) == ("hv3", "")  # type: ignore[attr-defined]
    assert vm_cluster.zk.children(paths.placement("hv3")) == [record.uuid]  # type: ignore[attr-defined]
    with pytest.raises(InvalidRequest, match="has no previous node"):
        vm_cluster.vms.unmigrate("mover")


def test_live_only_migration_fails_clearly_and_the_vm_stays(vm_cluster: Cluster) -> None:
    vm_cluster.vms.define(domain_xml("liveonly"), target="hv1", migration_method="live")
    vm_cluster.vms.start("liveonly")
    settled(vm_cluster, "liveonly", "start")
    vm_cluster.vms.migrate("liveonly", "hv2")
    record = settled(vm_cluster, "liveonly", "start")
    assert record.node == "hv1" and record.observed == "running"  # type: ignore[attr-defined]
    assert "live migration to hv2 is not possible" in record.failure_reason  # type: ignore[attr-defined]


def test_flush_moves_every_vm_and_ready_brings_them_back(vm_cluster: Cluster) -> None:
    for name in ("f1", "f2", "f3"):
        vm_cluster.vms.define(domain_xml(name, 512), target="hv1")
        vm_cluster.vms.start(name)
    vm_cluster.vms.define(domain_xml("pinned", 512), target="hv1", limit=["hv1"])
    vm_cluster.vms.start("pinned")
    for name in ("f1", "f2", "f3", "pinned"):
        settled(vm_cluster, name, "start")
    view = vm_cluster.flush("hv1", wait=True, timeout=60)
    assert view.record.domain_state == "flushed"
    assert "pinned" in view.record.domain_state_reason and "node limit" in view.record.domain_state_reason
    for name in ("f1", "f2", "f3"):
        record = vm_cluster.vms.get(name)
        assert record.node in ("hv2", "hv3") and record.observed == "running" and record.flushed_from == "hv1"
    assert vm_cluster.vms.get("pinned").node == "hv1"
    view = vm_cluster.ready("hv1", wait=True, timeout=60)
    assert view.record.domain_state == "ready"
    wait_until(lambda: all(vm_cluster.vms.get(n).node == "hv1" for n in ("f1", "f2", "f3")), what="VMs back")
    for name in ("f1", "f2", "f3"):
        record = settled(vm_cluster, name, "start")
        assert record.flushed_from == "" and record.observed == "running"  # type: ignore[attr-defined]


def test_a_flushed_node_takes_no_new_vms_and_autostart_runs_on_ready(vm_cluster: Cluster) -> None:
    vm_cluster.vms.define(domain_xml("auto"), target="hv2", autostart=True)
    vm_cluster.flush("hv2", wait=True, timeout=30)
    with pytest.raises(InvalidRequest, match="cannot start VM auto on hv2: domain state flushed"):
        vm_cluster.vms.start("auto", "hv2")
    vm_cluster.ready("hv2", wait=True, timeout=30)
    record = settled(vm_cluster, "auto", "start")
    assert record.node == "hv2" and record.observed == "running"  # type: ignore[attr-defined]


def test_names_that_are_not_dns_labels_are_refused_at_define_and_rename(vm_cluster: Cluster) -> None:
    for bad in ("web_1", "web.example", "web-"):
        with pytest.raises(InvalidRequest, match=f"'{bad}' is not a valid VM name: it must be a DNS label"):
            vm_cluster.vms.define(domain_xml(bad))
    assert vm_cluster.vms.list() == []
    vm_cluster.vms.define(domain_xml("web-1"))
    with pytest.raises(InvalidRequest, match="'web_2' is not a valid VM name") as refused:
        vm_cluster.vms.rename("web-1", "web_2")
    assert refused.value.field == "new_name"
    assert [r.name for r in vm_cluster.vms.list()] == ["web-1"]
    result = run_pvc("-c", vm_cluster.zk.hosts, "vm", "rename", "web-1", "web.2")
    assert result.returncode != 0 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "'web.2' is not a valid VM name: it must be a DNS label" in result.stderr


def test_rename_tags_meta_and_remove(vm_cluster: Cluster) -> None:
    record = vm_cluster.vms.define(domain_xml("old"))
    vm_cluster.vms.rename("old", "new")
    assert vm_cluster.vms.get("new").uuid == record.uuid
    assert vm_cluster.zk.exists(paths.domain_name("old")) is None
    assert "<name>new</name>" in vm_cluster.vms.dump("new")
    vm_cluster.vms.tag("new", add=["a", "b"])
    vm_cluster.vms.tag("new", remove=["a"])
    assert vm_cluster.vms.get("new").tags == ("b",)
    assert [r.name for r in vm_cluster.vms.list(tag="b")] == ["new"]
    vm_cluster.vms.meta("new", limit=["hv1", "hv2"], selector="vms", autostart=True, migration_method="shutdown")
    meta = vm_cluster.vms.get("new")
    assert (meta.node_limit, meta.node_selector, meta.autostart, meta.migration_method) == (
        ("hv1", "hv2"),
        "vms",
        True,
        "shutdown",
    )
    vm_cluster.vms.start("new")
    settled(vm_cluster, "new", "start")
    with pytest.raises(InvalidRequest, match="stop it before removing it"):
        vm_cluster.vms.remove("new")
    with pytest.raises(InvalidRequest, match="stop it before renaming"):
        vm_cluster.vms.rename("new", "newer")
    vm_cluster.vms.stop("new")
    settled(vm_cluster, "new", "stop")
    vm_cluster.vms.remove("new")
    assert vm_cluster.vms.list() == []
    assert vm_cluster.zk.exists(paths.domain_name("new")) is None
    with pytest.raises(NotFound, match="no VM named 'new'"):
        vm_cluster.vms.get("new")


def test_the_vm_commands_of_pvc(vm_cluster: Cluster, tmp_path: object) -> None:
    env = {"PVC_CONNECTION": vm_cluster.zk.hosts}
    xml = tmp_path / "cli.xml"  # type: ignore[operator]
    xml.write_text(domain_xml("cli"))
    defined = run_pvc("vm", "define", str(xml), "--target", "hv1", "--tag", "t1", env=env)
    assert defined.returncode == 0, defined.stderr
    started = run_pvc("vm", "start", "cli", "--wait", env=env)
    assert started.returncode == 0, started.stderr
    assert "cli: start on hv1" in started.stdout
    listed = run_pvc("vm", "list", env=env).stdout.splitlines()
    assert listed[0].split()[:3] == ["NAME", "STATE", "NODE"] and listed[1].split()[:3] == ["cli", "start", "hv1"]
    info = json.loads(run_pvc("vm", "info", "cli", "-o", "json", env=env).stdout)
    assert info["observed"] == "running" and info["tags"] == ["t1"]
    migrated = run_pvc("vm", "migrate", "cli", "--target", "hv3", "--wait", env=env)
    assert migrated.returncode == 0 and "cli: start on hv3" in migrated.stdout
    refused = run_pvc("vm", "remove", "cli", env=env)
    assert refused.returncode == 1 and "add --yes to confirm" in refused.stderr
    missing = run_pvc("vm", "info", "nope", env=env)
    assert missing.returncode == 4 and missing.stderr.strip() == "pvc: error: no VM named 'nope' in this cluster"
    bad = tmp_path / "bad.xml"  # type: ignore[operator]
    bad.write_text("<domain>")
    refused = run_pvc("vm", "define", str(bad), env=env)
    assert refused.returncode == 3 and refused.stderr.startswith("pvc: error: invalid domain XML")
    flushed = run_pvc("node", "flush", "hv3", "--wait", env=env)
    assert flushed.returncode == 0 and "hv3: flushed" in flushed.stdout
    assert run_pvc("node", "ready", "hv3", "--wait", env=env).returncode == 0


def test_listing_reads_the_same_fixed_number_of_znodes_whatever_the_vm_count(vm_cluster: Cluster) -> None:
    def cost() -> tuple[int, int]:
        before = (vm_cluster.zk.requests, vm_cluster.zk.round_trips)
        vm_cluster.vms.list()
        return vm_cluster.zk.requests - before[0], vm_cluster.zk.round_trips - before[1]

    vm_cluster.vms.define(domain_xml("count0"))
    few = cost()
    for i in range(1, 25):
        vm_cluster.vms.define(domain_xml(f"count{i}"))
    assert cost() == few == (paths.SUMMARY_BUCKETS, 1)
    assert len(vm_cluster.vms.list()) == 25


def test_a_listing_is_always_fresh_and_decodes_only_the_buckets_that_changed(vm_cluster: Cluster) -> None:
    for i in range(10):
        vm_cluster.vms.define(domain_xml(f"fresh{i}"))

    def steady() -> tuple[list[VmRecord], tuple[int, ...]] | None:  # the nodes have noted the new VMs
        first, version = vm_cluster.vms.listing()
        again, same = vm_cluster.vms.listing()
        return (first, version) if same == version and all(a is b for a, b in zip(first, again, strict=True)) else None

    first, version = wait_until(steady, what="a listing that stays the same")
    vm_cluster.vms.tag("fresh3", add=["changed"])
    after, newer = vm_cluster.vms.listing()
    buckets = paths.summary_buckets()
    changed = {buckets[i] for i, (a, b) in enumerate(zip(version, newer, strict=True)) if a != b}
    assert paths.summary_bucket(first[3].uuid) in changed
    assert [r.name for r in vm_cluster.vms.list(tag="changed")] == ["fresh3"]
    # records of the buckets that did not change are the very same objects: not decoded again
    unchanged = [r for r in first if paths.summary_bucket(r.uuid) not in changed]
    assert all(any(a is b for a in after) for b in unchanged)
    assert not any(a is b for a in after for b in first if paths.summary_bucket(b.uuid) in changed)


def test_a_node_publishes_what_its_vms_take(vm_cluster: Cluster) -> None:
    vm_cluster.vms.define(domain_xml("sized", 768, 3), target="hv1")
    vm_cluster.vms.start("sized")
    settled(vm_cluster, "sized", "start")
    resources = wait_until(
        lambda: (r := vm_cluster.node("hv1").record.resources).get("vms") == 1 and r, what="hv1's provisioned figures"
    )
    assert (resources["memory_provisioned_mib"], resources["vcpus_provisioned"]) == (768, 3)
    assert resources["memory_total_mib"] == 4096  # the hypervisor's, not the host's


def test_starting_a_running_vm_elsewhere_is_refused_not_duplicated(vm_cluster: Cluster) -> None:
    vm_cluster.vms.define(domain_xml("once"), target="hv1")
    vm_cluster.vms.start("once")
    settled(vm_cluster, "once", "start")
    with pytest.raises(InvalidRequest, match=r"VM once already runs on hv1; use 'pvc vm migrate --target hv2'"):
        vm_cluster.vms.start("once", "hv2")
    assert vm_cluster.vms.get("once").node == "hv1"


def test_a_node_without_a_compute_driver_takes_no_vms(vm_cluster: Cluster, zk_hosts: str, nodes: Nodes) -> None:
    nodes.start("hv9", zk_hosts, NAMES)  # no compute driver
    wait_until(lambda: vm_cluster.node("hv9").alive, what="hv9 running")
    vm_cluster.vms.define(domain_xml("picky"), limit=["hv1"])
    with pytest.raises(InvalidRequest, match="cannot start VM picky on hv9: has no compute driver"):
        vm_cluster.vms.start("picky", "hv9")


def test_unmigrate_after_a_failed_migration_has_nowhere_to_go(vm_cluster: Cluster) -> None:
    vm_cluster.vms.define(domain_xml("stays"), target="hv1", migration_method="live")
    vm_cluster.vms.start("stays")
    settled(vm_cluster, "stays", "start")
    vm_cluster.vms.migrate("stays", "hv2")  # live only, on a hypervisor that cannot: it stays on hv1
    record = settled(vm_cluster, "stays", "start")
    assert (record.node, record.last_node) == ("hv1", "")  # type: ignore[attr-defined]
    with pytest.raises(InvalidRequest, match="has no previous node"):
        vm_cluster.vms.unmigrate("stays")
