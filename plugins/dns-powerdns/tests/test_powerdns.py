"""The dns conformance suite against the powerdns driver and a real PowerDNS, and what only PowerDNS shows:
answers over DNS, AXFR allowed only where a zone says, a server that does not answer in one line."""

from __future__ import annotations

import subprocess
from collections.abc import Callable

import pytest

from pvc_core.errors import InvalidRequest
from pvc_core.roles.dns import DnsDriver, DnsError, DnsRecord, DnsZone
from pvc_core.testing.dns_conformance import DnsConformance
from pvc_dns_powerdns.driver import PowerDns
from pvc_dns_powerdns.testing import PowerDnsServer

pytestmark = pytest.mark.zk
ZONE = "net100.pvc-powerdns.test"


def dig(server: PowerDnsServer, *args: str) -> str:
    argv = ["dig", "+time=2", "+tries=1", f"@{server.address}", "-p", str(server.dns_port), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=15, check=False).stdout


class TestPowerDnsConformance(DnsConformance):
    @pytest.fixture
    def make_driver(self, powerdns: PowerDnsServer) -> Callable[[], DnsDriver]:
        return powerdns.driver


def test_records_answer_over_dns(powerdns: PowerDnsServer, driver: PowerDns) -> None:
    driver.ensure_zone(DnsZone(ZONE, nameservers=("ns1.pvc-powerdns.test",)))
    driver.apply(ZONE, {("vm1", "A"): [DnsRecord("vm1", "A", "10.100.0.11")]})
    assert dig(powerdns, "+short", f"vm1.{ZONE}").strip() == "10.100.0.11"


def test_axfr_is_allowed_only_to_the_zones_transfer_list(powerdns: PowerDnsServer, driver: PowerDns) -> None:
    driver.ensure_zone(DnsZone(ZONE, nameservers=("ns1.pvc-powerdns.test",)))
    driver.apply(ZONE, {("vm1", "A"): [DnsRecord("vm1", "A", "10.100.0.11")]})
    assert "Transfer failed" in dig(powerdns, "axfr", ZONE)
    driver.ensure_zone(DnsZone(ZONE, nameservers=("ns1.pvc-powerdns.test",), transfer_to=("127.0.0.1",)))
    transferred = dig(powerdns, "axfr", ZONE)
    assert f"vm1.{ZONE}." in transferred and "10.100.0.11" in transferred


def test_a_server_that_does_not_answer_is_one_line_within_the_timeout(powerdns: PowerDnsServer) -> None:
    settings = powerdns.settings(timeout=1.0)
    gone = PowerDnsServer(powerdns.directory / "none", dns_port=1, api_port=9)  # nothing listens on port 9
    gone.api_key = settings.api_key
    with pytest.raises(DnsError) as raised:
        gone.driver(timeout=1.0).zones()
    assert str(raised.value).startswith("PowerDNS at http://127.0.0.1:9 does not answer")
    assert "\n" not in str(raised.value)


def test_a_wrong_key_and_a_record_powerdns_refuses_are_one_line(powerdns: PowerDnsServer, driver: PowerDns) -> None:
    driver.ensure_zone(DnsZone(ZONE, nameservers=("ns1.pvc-powerdns.test",)))
    with pytest.raises(InvalidRequest) as raised:
        driver.apply(ZONE, {("vm1", "A"): [DnsRecord("vm1", "A", "not-an-address")]})
    assert "PowerDNS refused it" in str(raised.value) and "\n" not in str(raised.value)
    wrong = powerdns.driver()
    wrong.settings = wrong.settings.model_copy(update={"api_key": "wrong"})
    with pytest.raises(DnsError, match="PowerDNS answered 401"):
        wrong.zones()
