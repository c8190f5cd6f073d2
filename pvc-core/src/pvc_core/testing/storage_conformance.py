"""The storage-role conformance suite (a skeleton the first storage driver fills): what every storage
driver must do, as pytest tests.

A driver's test module subclasses :class:`StorageConformance` (in a class named ``Test...``) and provides
``make_driver() -> StorageDriver`` on a storage cluster the tests may change, and ``pool`` (a pool name the
tests may create and remove). The storage-ceph plugin runs it against a real Ceph cluster; tests that a
backend cannot pass skip with the reason. Every test removes what it made.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pytest

from pvc_core.errors import AlreadyExists, NotFound, PvcError
from pvc_core.roles.storage import StorageDriver
from pvc_core.vms.model import VmVolume

MakeDriver = Callable[[], StorageDriver]
MIB = 1024 * 1024


class StorageConformance:
    """Subclass as ``class TestMyStorageConformance(StorageConformance)`` and provide the fixtures."""

    @pytest.fixture
    def driver(self, make_driver: MakeDriver, pool: str) -> Iterator[StorageDriver]:
        driver = make_driver()
        driver.add_pool(pool, replicas=1, min_replicas=1)
        yield driver
        with contextlib.suppress(PvcError):
            driver.remove_pool(pool)

    def test_health_says_ok_warn_or_error(self, driver: StorageDriver) -> None:
        assert driver.health().status in ("ok", "warn", "error")

    def test_a_new_pool_is_listed_with_its_replicas(self, driver: StorageDriver, pool: str) -> None:
        found = {p.name: p for p in driver.pools()}
        assert pool in found and found[pool].replicas == 1

    def test_a_volume_is_created_resized_renamed_and_removed(self, driver: StorageDriver, pool: str) -> None:
        driver.add_volume(pool, "conf-a", 64 * MIB)
        assert driver.volume(pool, "conf-a").size_bytes == 64 * MIB
        assert driver.resize_volume(pool, "conf-a", 128 * MIB).size_bytes == 128 * MIB
        driver.rename_volume(pool, "conf-a", "conf-b")
        assert [v.name for v in driver.volumes(pool)] == ["conf-b"]
        driver.remove_volume(pool, "conf-b")
        with pytest.raises(NotFound):
            driver.volume(pool, "conf-b")

    def test_a_name_in_use_is_refused(self, driver: StorageDriver, pool: str) -> None:
        driver.add_volume(pool, "conf-a", 8 * MIB)
        with pytest.raises(AlreadyExists):
            driver.add_volume(pool, "conf-a", 8 * MIB)

    def test_snapshots_are_taken_listed_and_removed(self, driver: StorageDriver, pool: str) -> None:
        driver.add_volume(pool, "conf-a", 8 * MIB)
        driver.add_snapshot(pool, "conf-a", "s1")
        assert [s.name for s in driver.snapshots(pool, "conf-a")] == ["s1"]
        driver.remove_snapshot(pool, "conf-a", "s1")
        assert driver.snapshots(pool, "conf-a") == []

    def test_a_clone_is_a_new_volume(self, driver: StorageDriver, pool: str) -> None:
        driver.add_volume(pool, "conf-a", 8 * MIB)
        driver.add_snapshot(pool, "conf-a", "base")
        clone = driver.clone_volume(pool, "conf-a", "conf-c", snapshot="base")
        assert (clone.pool, clone.name, clone.size_bytes) == (pool, "conf-c", 8 * MIB)

    def test_attach_gives_a_disk_serving_the_volume(self, driver: StorageDriver, pool: str) -> None:
        driver.add_volume(pool, "conf-a", 8 * MIB)
        device = driver.attach("00000000-0000-4000-8000-000000000001", VmVolume(pool, "conf-a", "virtio", "vda"))
        assert (device.kind, device.key) == ("volume", f"{pool}/conf-a")
        assert device.xml.lstrip().startswith("<disk")

    def test_fencing_a_client_twice_and_readmitting_it_twice_is_harmless(self, driver: StorageDriver) -> None:
        driver.fence_client("pvc-conformance-node")
        driver.fence_client("pvc-conformance-node")
        driver.readmit_client("pvc-conformance-node")
        assert driver.readmit_client("pvc-conformance-node") == []  # nothing left to lift
