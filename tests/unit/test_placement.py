"""Placement: each selector, node limits, fit checks, and the reason when nothing fits."""

from __future__ import annotations

import pytest

from pvc_core.vms.model import VmRecord
from pvc_core.vms.placement import NodeCapacity, NoPlacement, capacities, choose_node


def node(name: str, total: int = 8192, free: int = 8192, load: float = 0.0, ready: bool = True) -> NodeCapacity:
    return NodeCapacity(
        name=name,
        ready=ready,
        why_not="" if ready else "not running (daemon state dead)",
        memory_total_mib=total,
        memory_free_mib=free,
        load=load,
    )


def vm(
    name: str, node_name: str = "", memory: int = 1024, vcpus: int = 1, state: str = "start", **kw: object
) -> VmRecord:
    return VmRecord(uuid=f"uuid-{name}", name=name, node=node_name, memory_mib=memory, vcpus=vcpus, state=state, **kw)  # type: ignore[arg-type]


def cluster(*vms: VmRecord, **nodes: NodeCapacity) -> dict[str, NodeCapacity]:
    return capacities(nodes.values(), vms)


def test_mem_picks_the_most_free_memory() -> None:
    table = cluster(hv1=node("hv1", free=2000), hv2=node("hv2", free=6000), hv3=node("hv3", free=4000))
    assert choose_node(vm("new"), table, "mem") == "hv2"


def test_memprov_picks_the_least_provisioned_memory() -> None:
    table = cluster(
        vm("a", "hv1", 4096),
        vm("b", "hv2", 1024),
        vm("c", "hv3", 2048),
        hv1=node("hv1"),
        hv2=node("hv2"),
        hv3=node("hv3"),
    )
    assert choose_node(vm("new"), table, "memprov") == "hv2"


def test_load_picks_the_lowest_load() -> None:
    table = cluster(hv1=node("hv1", load=3.0), hv2=node("hv2", load=0.5), hv3=node("hv3", load=1.0))
    assert choose_node(vm("new"), table, "load") == "hv2"


def test_vcpus_picks_the_fewest_provisioned_vcpus() -> None:
    table = cluster(
        vm("a", "hv1", vcpus=8),
        vm("b", "hv2", vcpus=4),
        vm("c", "hv3", vcpus=2),
        hv1=node("hv1"),
        hv2=node("hv2"),
        hv3=node("hv3"),
    )
    assert choose_node(vm("new"), table, "vcpus") == "hv3"


def test_vms_picks_the_fewest_vms() -> None:
    table = cluster(vm("a", "hv1"), vm("b", "hv1"), vm("c", "hv2"), hv1=node("hv1"), hv2=node("hv2"), hv3=node("hv3"))
    assert choose_node(vm("new"), table, "vms") == "hv3"


def test_stopped_vms_take_no_room() -> None:
    table = cluster(vm("a", "hv1", 8000, state="stop"), hv1=node("hv1"), hv2=node("hv2", free=100))
    assert choose_node(vm("new", memory=4096), table, "memprov") == "hv1"


def test_the_node_limit_is_respected() -> None:
    table = cluster(hv1=node("hv1", free=100), hv2=node("hv2", free=8000))
    assert choose_node(vm("new", node_limit=("hv1",)), table, "mem") == "hv1"


def test_a_vm_never_lands_where_it_does_not_fit() -> None:
    table = cluster(vm("a", "hv1", 7000), hv1=node("hv1", free=8000), hv2=node("hv2", total=2048, free=2048))
    with pytest.raises(
        NoPlacement,
        match=r"no node can take VM big \(hv1: 1192 MiB unprovisioned, needs 3000; "
        r"hv2: 2048 MiB unprovisioned, needs 3000\)",
    ):
        choose_node(vm("big", memory=3000), table, "mem")


def test_nodes_that_are_not_ready_or_excluded_are_skipped_with_a_reason() -> None:
    table = cluster(hv1=node("hv1"), hv2=node("hv2", ready=False), hv3=node("hv3"))
    assert choose_node(vm("new"), table, "mem", exclude=["hv1"]) == "hv3"
    with pytest.raises(NoPlacement, match=r"hv2: not running"):
        choose_node(vm("new"), table, "mem", exclude=["hv1", "hv3"])


def test_the_vm_own_selector_applies_when_none_is_given() -> None:
    table = cluster(hv1=node("hv1", load=0.1, free=1000), hv2=node("hv2", load=2.0, free=8000))
    assert choose_node(vm("new", node_selector="load"), table) == "hv1"
    assert choose_node(vm("new"), table) == "hv2"  # the default: mem


def test_a_vm_record_survives_a_round_trip_through_its_dict() -> None:
    from dataclasses import asdict

    from pvc_core.vms.model import Operation, VmNetwork, VmVolume

    record = vm("web", "hv1", tags=("a", "b"), node_limit=("hv1",)).with_(
        operation=Operation(kind="start", node="hv1", started=1.0, by="me"),
        last_migration={"seconds": 1.5},
        volumes=(VmVolume("vms", "web-disk0", "virtio", "vda"),),
        networks=(VmNetwork("100", "52:54:00:00:00:01"),),
    )
    data = record.to_dict()
    assert data == asdict(record) | {
        "tags": ["a", "b"],
        "node_limit": ["hv1"],
        "volumes": [{"pool": "vms", "volume": "web-disk0", "bus": "virtio", "target": "vda"}],
        "networks": [{"network": "100", "mac": "52:54:00:00:00:01", "model": "virtio"}],
    }
    assert VmRecord.from_dict(data) == record
