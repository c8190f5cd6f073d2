"""The dns-role conformance suite: what every dns driver must do, as pytest tests.

A driver's test module subclasses :class:`DnsConformance` (in a class named ``Test...``) and provides one
fixture, ``make_driver() -> DnsDriver``: a driver on an empty server (or one whose zones the test may
create and remove). Zones the tests make are named ``*.pvc-conformance.test`` and removed afterwards.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pytest

from pvc_core.errors import InvalidRequest, NotFound, PvcError
from pvc_core.roles.dns import DnsDriver, DnsRecord, DnsZone, reverse_name, reverse_zone

MakeDriver = Callable[[], DnsDriver]
ZONE = "net100.pvc-conformance.test"


class DnsConformance:
    """Subclass as ``class TestMyDnsConformance(DnsConformance)`` and provide ``make_driver``."""

    @pytest.fixture
    def driver(self, make_driver: MakeDriver) -> Iterator[DnsDriver]:
        driver = make_driver()
        yield driver
        for zone in driver.zones():
            if zone.endswith("pvc-conformance.test") or zone.endswith(".in-addr.arpa"):
                with contextlib.suppress(PvcError):
                    driver.remove_zone(zone)

    @pytest.fixture
    def zone(self, driver: DnsDriver) -> str:
        driver.ensure_zone(DnsZone(name=ZONE, nameservers=("ns1.pvc-conformance.test",)))
        return ZONE

    def test_a_new_zone_is_listed_and_ensuring_it_again_changes_nothing(self, driver: DnsDriver, zone: str) -> None:
        before = driver.records(zone)
        driver.ensure_zone(DnsZone(name=zone, nameservers=("ns1.pvc-conformance.test",)))
        assert zone in driver.zones()
        assert driver.records(zone) == before

    def test_records_set_in_an_rrset_read_back(self, driver: DnsDriver, zone: str) -> None:
        driver.apply(zone, {("vm1", "A"): [DnsRecord("vm1", "A", "10.100.0.11", 60)]})
        found = [r for r in driver.records(zone) if r.name == "vm1"]
        assert found == [DnsRecord("vm1", "A", "10.100.0.11", 60)]

    def test_an_rrset_is_replaced_whole_and_others_are_kept(self, driver: DnsDriver, zone: str) -> None:
        driver.apply(
            zone,
            {
                ("vm1", "A"): [DnsRecord("vm1", "A", "10.100.0.11"), DnsRecord("vm1", "A", "10.100.0.12")],
                ("vm2", "A"): [DnsRecord("vm2", "A", "10.100.0.21")],
            },
        )
        driver.apply(zone, {("vm1", "A"): [DnsRecord("vm1", "A", "10.100.0.13")]})
        names = {(r.name, r.content) for r in driver.records(zone) if r.type == "A"}
        assert names == {("vm1", "10.100.0.13"), ("vm2", "10.100.0.21")}

    def test_an_empty_rrset_deletes_it(self, driver: DnsDriver, zone: str) -> None:
        driver.apply(zone, {("vm1", "AAAA"): [DnsRecord("vm1", "AAAA", "fd00:100::11")]})
        driver.apply(zone, {("vm1", "AAAA"): []})
        assert not [r for r in driver.records(zone) if r.name == "vm1"]

    def test_every_change_moves_the_serial_forward(self, driver: DnsDriver, zone: str) -> None:
        first = driver.serial(zone)
        driver.apply(zone, {("vm1", "A"): [DnsRecord("vm1", "A", "10.100.0.11")]})
        second = driver.serial(zone)
        driver.apply(zone, {("vm1", "A"): []})
        assert first < second < driver.serial(zone)

    def test_reverse_zones_hold_ptr_records(self, driver: DnsDriver) -> None:
        reverse = reverse_zone("10.100.0.0/24")
        assert reverse == "0.100.10.in-addr.arpa"
        driver.ensure_zone(DnsZone(name=reverse, nameservers=("ns1.pvc-conformance.test",)))
        name = reverse_name("10.100.0.11", reverse)
        driver.apply(reverse, {(name, "PTR"): [DnsRecord(name, "PTR", f"vm1.{ZONE}.")]})
        assert [r.content for r in driver.records(reverse) if r.type == "PTR"] == [f"vm1.{ZONE}."]

    def test_a_removed_zone_is_gone(self, driver: DnsDriver, zone: str) -> None:
        driver.remove_zone(zone)
        driver.remove_zone(zone)  # again: nothing to do
        assert zone not in driver.zones()
        with pytest.raises(NotFound):
            driver.records(zone)

    def test_changes_to_an_unknown_zone_are_refused(self, driver: DnsDriver) -> None:
        with pytest.raises(NotFound):
            driver.apply("nosuch.pvc-conformance.test", {("a", "A"): [DnsRecord("a", "A", "10.0.0.1")]})

    def test_invalid_names_are_refused_and_change_nothing(self, driver: DnsDriver, zone: str) -> None:
        before = driver.records(zone)
        for bad in ("bad name", "-leading", "a/b"):
            with pytest.raises(InvalidRequest):
                driver.apply(zone, {(bad, "A"): [DnsRecord(bad, "A", "10.100.0.99")]})
        with pytest.raises(InvalidRequest):
            driver.ensure_zone(DnsZone(name="bad zone.test"))
        assert driver.records(zone) == before
