"""The hostsfile dns driver: the dns conformance suite, and what its file looks like to a resolver."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest

from pvc_core.errors import InvalidRequest, PvcError
from pvc_core.roles.dns import DnsDriver, DnsRecord, DnsZone
from pvc_core.testing.dns_conformance import DnsConformance
from pvc_plugin_template.config import TemplateConfig
from pvc_plugin_template.dns import HostsFileDns

if TYPE_CHECKING:
    from collections.abc import Callable

    from pvc_core.host import Host

pytestmark = pytest.mark.unit


@dataclass
class FakeConfig:
    """Stands in for host.config: only section() is used by the driver."""

    sections: dict[str, Any] = field(default_factory=dict)

    def section(self, name: str) -> Any:
        return self.sections[name]


@dataclass
class FakeHost:
    config: FakeConfig


def make_driver(directory: Path) -> HostsFileDns:
    host = FakeHost(FakeConfig({"template": TemplateConfig(hosts_file=str(directory / "hosts"))}))
    return HostsFileDns(cast("Host", host), "hostsfile")


class TestHostsFileDnsConformance(DnsConformance):
    @pytest.fixture
    def make_driver(self, tmp_path: Path) -> Callable[[], DnsDriver]:
        return lambda: make_driver(tmp_path / "zones")


def test_is_a_dns_driver(tmp_path: Path) -> None:
    driver = make_driver(tmp_path)
    assert isinstance(driver, DnsDriver)
    assert driver.role == "dns"
    assert driver.name == "hostsfile"


def test_address_records_are_hosts_lines_a_resolver_reads(tmp_path: Path) -> None:
    driver = make_driver(tmp_path / "zones")  # the directory is created on first write
    driver.ensure_zone(DnsZone("example.org", nameservers=("ns1.example.org",)))
    driver.apply(
        "example.org",
        {
            ("www", "A"): [DnsRecord("www", "A", "192.0.2.10", 60)],
            ("db", "AAAA"): [DnsRecord("db", "AAAA", "2001:db8::1")],
        },
    )
    hosts_lines = [
        line.split("#")[0].split()
        for line in (tmp_path / "zones" / "hosts.example.org").read_text().splitlines()
        if line.split("#")[0].strip()
    ]
    assert hosts_lines == [["2001:db8::1", "db"], ["192.0.2.10", "www"]]
    assert sorted(os.listdir(tmp_path / "zones")) == ["hosts.example.org"]  # no temporary file left behind


@pytest.mark.parametrize("zone", ["a/b", "../etc", "a b", ".hidden", "a#b", "trailing."])
def test_rejects_bad_zones_and_writes_nothing(tmp_path: Path, zone: str) -> None:
    driver = make_driver(tmp_path)
    with pytest.raises(InvalidRequest) as raised:
        driver.ensure_zone(DnsZone(zone))
    assert "\n" not in str(raised.value)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(("kind", "content"), [("A", "not-an-ip"), ("A", "2001:db8::1"), ("AAAA", "192.0.2.1")])
def test_rejects_bad_addresses(tmp_path: Path, kind: str, content: str) -> None:
    driver = make_driver(tmp_path)
    driver.ensure_zone(DnsZone("example.org"))
    with pytest.raises(InvalidRequest, match="address"):
        driver.apply("example.org", {("www", kind): [DnsRecord("www", kind, content)]})


def test_write_failure_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(PvcError, match=r"cannot write zone example\.org") as raised:
        make_driver(blocker).ensure_zone(DnsZone("example.org"))
    assert "\n" not in str(raised.value)


def test_default_directory_without_the_section() -> None:
    driver = HostsFileDns(cast("Host", FakeHost(FakeConfig())), "hostsfile")
    assert driver.hosts_file == "/var/lib/pvc/template-hosts"
    assert driver.path("example.org") == "/var/lib/pvc/template-hosts.example.org"
