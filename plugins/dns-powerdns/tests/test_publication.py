"""What the cluster publishes in DNS (pure: networks, leases and VMs in, zones and records out), and the sync
against a real PowerDNS: only changed rrsets are written, drift behind the driver's back is put back and
counted, a zone no longer wanted goes."""

from __future__ import annotations

import pytest

from pvc_core.roles.dns import DnsRecord
from pvc_core.roles.network import DhcpRange, Lease, Network, Reservation, Subnet
from pvc_core.vms.model import VmNetwork, VmRecord
from pvc_dns_powerdns.driver import PowerDns
from pvc_dns_powerdns.publication import plan, sync

NET = Network(
    vni=100,
    domain="net100.pvc-sync.test",
    ipv4=Subnet("10.100.0.0/24", "10.100.0.1", DhcpRange("10.100.0.100", "10.100.0.199")),
    reservations=(Reservation("52:54:00:00:00:01", "10.100.0.11", "reserved"),),
)
VMS = [VmRecord(uuid="u1", name="web1", networks=(VmNetwork("100", "52:54:00:00:00:01"),))]
NS = ("ns1.net100.pvc-sync.test",)


def a_records(publication: object, zone: str) -> dict[str, list[str]]:
    rrsets = publication.rrsets[zone]  # type: ignore[attr-defined]
    return {name: sorted(r.content for r in records) for (name, kind), records in rrsets.items() if kind == "A"}


@pytest.mark.unit
def test_names_come_from_the_vm_owning_the_mac_else_the_host_name_and_bad_ones_are_left_out() -> None:
    leases = {
        100: [
            Lease("52:54:00:00:00:02", "10.100.0.150", "laptop"),
            Lease("52:54:00:00:00:03", "10.100.0.151", "bad_name"),
        ]
    }
    found = plan([NET], leases, VMS, NS, dns_address="10.73.0.53")
    assert a_records(found, NET.domain) == {
        "gateway": ["10.100.0.1"],
        "laptop": ["10.100.0.150"],
        "ns1": ["10.73.0.53"],
        "web1": ["10.100.0.11"],
    }
    ptr = found.rrsets["0.100.10.in-addr.arpa"]
    assert ptr[("11", "PTR")][0].content == f"web1.{NET.domain}."
    assert found.skipped == [f"bad_name.{NET.domain}: 'bad_name' is not a DNS label"]


@pytest.mark.unit
def test_networks_without_a_domain_and_bridged_ones_publish_nothing() -> None:
    found = plan([Network(vni=7, ipv4=Subnet("10.7.0.0/24", "10.7.0.1")), Network(vni=8, kind="bridged")], {}, [], NS)
    assert found.zones == {}


@pytest.mark.zk
def test_a_sync_writes_what_changed_and_puts_back_what_changed_behind_its_back(driver: PowerDns) -> None:
    published: dict[str, dict[tuple[str, str], list[DnsRecord]]] = {}
    first = sync(driver, plan([NET], {}, VMS, NS, "10.73.0.53"), [], published)
    assert first.zones_created == ["0.100.10.in-addr.arpa", NET.domain]
    again = sync(driver, plan([NET], {}, VMS, NS, "10.73.0.53"), first.zones_created, published)
    assert (again.rrsets_changed, again.drift_repaired) == (0, 0)
    driver.apply(NET.domain, {("web1", "A"): [DnsRecord("web1", "A", "192.0.2.66")]})  # behind its back
    repaired = sync(driver, plan([NET], {}, VMS, NS, "10.73.0.53"), first.zones_created, published)
    assert (repaired.rrsets_changed, repaired.drift_repaired) == (1, 1)
    assert [r.content for r in driver.records(NET.domain) if r.name == "web1"] == ["10.100.0.11"]


@pytest.mark.zk
def test_a_lease_that_goes_takes_its_records_and_a_network_that_goes_takes_its_zones(driver: PowerDns) -> None:
    lease = {100: [Lease("52:54:00:00:00:02", "10.100.0.150", "laptop")]}
    first = sync(driver, plan([NET], lease, VMS, NS), [])
    assert any(r.name == "laptop" for r in driver.records(NET.domain))
    sync(driver, plan([NET], {}, VMS, NS), first.zones_created)
    assert not any(r.name == "laptop" for r in driver.records(NET.domain))
    assert not any(r.name == "150" for r in driver.records("0.100.10.in-addr.arpa"))
    gone = sync(driver, plan([], {}, VMS, NS), first.zones_created)
    assert gone.zones_removed == ["0.100.10.in-addr.arpa", NET.domain]
    assert driver.zones() == []


@pytest.mark.zk
def test_a_zone_powerdns_refuses_is_one_line_and_the_others_are_published(driver: PowerDns) -> None:
    long_domain = ".".join(["a" * 61, "b" * 61, "c" * 61, "d" * 60])  # 246 characters: "gateway." makes it too long
    refused = Network(vni=101, domain=long_domain, ipv4=Subnet("10.101.0.0/24", "10.101.0.1"))
    wanted = plan([NET, refused], {}, VMS, NS)
    assert f"gateway.{long_domain}: longer than DNS allows (253 characters)" in wanted.skipped
    found = sync(driver, wanted, [])
    assert list(found.refused) == [long_domain]
    assert found.refused[long_domain].startswith("PowerDNS answered 500 to POST /zones")  # it failed that zone
    assert "\n" not in found.refused[long_domain]
    assert any(r.name == "web1" for r in driver.records(NET.domain))
    assert "0.101.10.in-addr.arpa" in driver.zones()  # its reverse zone went on too
