"""What the primary records as a node's resources once that node's VMs were recovered elsewhere."""

from __future__ import annotations

from pvc_core.builtin.ha_world import resources_after_recovery

PUBLISHED = {
    "cpus": 8,
    "memory_total_mib": 16384,
    "memory_free_mib": 9000,
    "load": 1.5,
    "migration_uri": "qemu+tcp://hv2/system",
    "vms": 3,
    "memory_provisioned_mib": 3072,
    "vcpus_provisioned": 6,
    "bmc": "answers (power on)",
}


def test_after_a_confirmed_fence_the_node_is_off_and_runs_no_vms() -> None:
    assert resources_after_recovery(PUBLISHED, confirmed=True) == {
        "cpus": 8,
        "memory_total_mib": 16384,
        "migration_uri": "qemu+tcp://hv2/system",
        "vms": 0,
        "memory_provisioned_mib": 0,
        "vcpus_provisioned": 0,
        "bmc": "answers (power off, confirmed by the fence)",
    }


def test_recovered_without_a_fence_the_vms_no_longer_count_but_the_power_is_unknown() -> None:
    after = resources_after_recovery(PUBLISHED, confirmed=False)
    assert (after["vms"], after["memory_provisioned_mib"], after["vcpus_provisioned"]) == (0, 0, 0)
    assert after["bmc"] == "answers (power on)" and after["load"] == 1.5


def test_a_node_without_a_compute_driver_gets_no_vm_figures() -> None:
    after = resources_after_recovery({"cpus": 2, "memory_total_mib": 2048, "load": 0.1}, confirmed=True)
    assert after == {"cpus": 2, "memory_total_mib": 2048, "bmc": "answers (power off, confirmed by the fence)"}
