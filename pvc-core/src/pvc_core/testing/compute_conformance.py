"""The compute-role conformance suite: what every compute driver must do, as pytest tests.

A driver's test module subclasses :class:`ComputeConformance` (in a class named ``Test...``) and provides
three fixtures:

* ``make_driver``: ``make_driver(node) -> ComputeDriver`` for node ``"a"`` or ``"b"``; calling it again
  for the same node gives a new driver instance on the same hypervisor (as a restarted pvcd gets).
* ``domain_xml``: ``domain_xml(name, uuid) -> str``, a domain that boots on this hypervisor and powers off
  on an ACPI shutdown request.
* ``bad_domain_xml``: ``bad_domain_xml(name, uuid) -> str``, a domain the hypervisor refuses to start.

Tests that need what a hypervisor cannot do (live migration, a hypervisor that outlives its connection)
skip with the reason. Every test removes the domains it made.
"""

from __future__ import annotations

import contextlib
import time
import uuid as uuidlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pvc_core.roles.compute import RUNNING_STATES, ComputeDriver, ComputeError

RUNNING = RUNNING_STATES
MakeDriver = Callable[[str], ComputeDriver]
MakeXml = Callable[[str, str], str]


def _until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.1)


class ComputeConformance:
    """Subclass as ``class TestMyDriverConformance(ComputeConformance)`` and provide the fixtures."""

    @pytest.fixture
    def domains(self, make_driver: MakeDriver) -> Iterator[list[tuple[str, str]]]:
        """(node, uuid) of every domain a test started: destroyed afterwards, whatever happened."""
        made: list[tuple[str, str]] = []
        yield made
        for node in ("a", "b"):
            try:
                driver = make_driver(node)
            except Exception:  # noqa: BLE001 - a hypervisor that cannot be reached has nothing to clean
                continue
            for _, uuid in made:
                with contextlib.suppress(ComputeError):
                    driver.destroy(uuid)

    def _start(self, driver: ComputeDriver, node: str, domains: list[tuple[str, str]], xml: MakeXml) -> str:
        uuid = str(uuidlib.uuid4())
        domains.append((node, uuid))
        driver.start(uuid, xml(f"conform-{uuid[:8]}", uuid))
        return uuid

    def test_a_started_domain_runs_and_is_listed(
        self, make_driver: MakeDriver, domain_xml: MakeXml, domains: list[tuple[str, str]]
    ) -> None:
        driver = make_driver("a")
        uuid = self._start(driver, "a", domains, domain_xml)
        assert driver.state(uuid) in RUNNING
        assert driver.domains().get(uuid) in RUNNING

    def test_starting_a_running_domain_again_changes_nothing(
        self, make_driver: MakeDriver, domain_xml: MakeXml, domains: list[tuple[str, str]]
    ) -> None:
        driver = make_driver("a")
        uuid = self._start(driver, "a", domains, domain_xml)
        driver.start(uuid, domain_xml(f"conform-{uuid[:8]}", uuid))
        assert list(driver.domains()).count(uuid) == 1

    def test_an_unknown_domain_is_absent_and_destroying_it_is_harmless(self, make_driver: MakeDriver) -> None:
        driver = make_driver("a")
        unknown = str(uuidlib.uuid4())
        assert driver.state(unknown) == "absent"
        driver.destroy(unknown)
        assert driver.shutdown(unknown, timeout=1.0) is True

    def test_destroy_stops_a_domain_at_once(
        self, make_driver: MakeDriver, domain_xml: MakeXml, domains: list[tuple[str, str]]
    ) -> None:
        driver = make_driver("a")
        uuid = self._start(driver, "a", domains, domain_xml)
        driver.destroy(uuid)
        assert driver.state(uuid) not in RUNNING

    def test_shutdown_stops_a_guest_that_honours_acpi(
        self, make_driver: MakeDriver, domain_xml: MakeXml, domains: list[tuple[str, str]]
    ) -> None:
        driver = make_driver("a")
        uuid = self._start(driver, "a", domains, domain_xml)
        assert driver.shutdown(uuid, timeout=60.0) is True
        assert driver.state(uuid) not in RUNNING

    def test_a_refused_start_raises_compute_error_with_the_reason(
        self, make_driver: MakeDriver, bad_domain_xml: MakeXml
    ) -> None:
        uuid = str(uuidlib.uuid4())
        with pytest.raises(ComputeError) as caught:
            make_driver("a").start(uuid, bad_domain_xml(f"conform-{uuid[:8]}", uuid))
        assert str(caught.value) and "\n" not in str(caught.value)

    def test_resources_and_stats_are_reported(
        self, make_driver: MakeDriver, domain_xml: MakeXml, domains: list[tuple[str, str]]
    ) -> None:
        driver = make_driver("a")
        resources = driver.resources()
        assert resources["cpus"] >= 1 and resources["memory_total_mib"] > 0
        assert 0 < resources["memory_free_mib"] <= resources["memory_total_mib"]
        assert "migration_uri" in resources
        uuid = self._start(driver, "a", domains, domain_xml)
        stats = driver.stats(uuid)
        assert stats["vcpus"] >= 1 and stats["memory_mib"] > 0 and stats["cpu_seconds"] >= 0

    def test_a_new_driver_instance_adopts_running_domains(
        self, make_driver: MakeDriver, domain_xml: MakeXml, domains: list[tuple[str, str]]
    ) -> None:
        first = make_driver("a")
        uuid = self._start(first, "a", domains, domain_xml)
        first.close()
        second = make_driver("a")
        if second.domains().get(uuid) is None:
            pytest.skip("this hypervisor does not outlive its connection (a restarted pvcd would find nothing)")
        assert second.state(uuid) in RUNNING

    def test_live_migration_moves_a_running_domain(
        self, make_driver: MakeDriver, domain_xml: MakeXml, domains: list[tuple[str, str]]
    ) -> None:
        source, target = make_driver("a"), make_driver("b")
        if not source.live_migration:
            pytest.skip("this hypervisor cannot migrate live")
        uuid = self._start(source, "a", domains, domain_xml)
        domains.append(("b", uuid))
        uri = str(target.resources()["migration_uri"])
        result = source.migrate(uuid, uri, max_downtime_ms=300, timeout=120.0)
        assert result.seconds > 0
        _until(lambda: target.state(uuid) in RUNNING, 10, "the domain to run on the target")
        assert source.state(uuid) not in RUNNING

    def test_an_interface_is_hot_plugged_into_a_running_domain_and_taken_out(
        self, make_driver: MakeDriver, domain_xml: MakeXml, domains: list[tuple[str, str]]
    ) -> None:
        driver = make_driver("a")
        uuid = self._start(driver, "a", domains, domain_xml)
        interface = "<interface type='user'><mac address='52:54:00:ee:00:01'/><model type='virtio'/></interface>"
        try:
            driver.attach_device(uuid, interface)
        except ComputeError as exc:
            if "cannot add devices" in str(exc):  # the role's words for a hypervisor that cannot
                pytest.skip("this hypervisor cannot hot-plug devices")
            raise
        driver.detach_device(uuid, "<interface type='user'><mac address='52:54:00:ee:00:01'/></interface>")
        assert driver.state(uuid) in RUNNING
        with pytest.raises(ComputeError):
            driver.attach_device("00000000-0000-0000-0000-00000000dead", interface)

    def test_console_is_read_in_whole_lines_from_an_offset(
        self, make_driver: MakeDriver, domain_xml: MakeXml, domains: list[tuple[str, str]]
    ) -> None:
        driver = make_driver("a")
        uuid = self._start(driver, "a", domains, domain_xml)
        first: Any = driver.console(uuid, lines=10)
        again = driver.console(uuid, lines=10, offset=first.offset)
        assert all("\n" not in line for line in [*first.lines, *again.lines])
        assert again.offset >= first.offset
