"""The hostsfile dns driver: records round-trip through the zone file; bad zones and names are refused."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest

from pvc_core.errors import PvcError
from pvc_core.roles.dns import DnsDriver
from pvc_plugin_template.config import TemplateConfig
from pvc_plugin_template.dns import HostsFileDns

if TYPE_CHECKING:
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


def test_is_a_dns_driver(tmp_path: Path) -> None:
    driver = make_driver(tmp_path)
    assert isinstance(driver, DnsDriver)
    assert driver.role == "dns"
    assert driver.name == "hostsfile"


def test_records_round_trip(tmp_path: Path) -> None:
    driver = make_driver(tmp_path / "zones")  # the directory is created on first publish
    records = {"www": "192.0.2.10", "db.example.org": "2001:db8::1"}
    driver.publish("example.org", records)
    assert driver.records("example.org") == records
    lines = (tmp_path / "zones" / "hosts.example.org").read_text().splitlines()
    assert lines[1:] == ["2001:db8::1 db.example.org", "192.0.2.10 www"]


def test_publish_replaces_the_zone(tmp_path: Path) -> None:
    driver = make_driver(tmp_path)
    driver.publish("example.org", {"old": "192.0.2.1", "kept": "192.0.2.2"})
    driver.publish("example.org", {"kept": "192.0.2.3"})
    assert driver.records("example.org") == {"kept": "192.0.2.3"}
    assert sorted(os.listdir(tmp_path)) == ["hosts.example.org"]  # no temporary file left behind


def test_publish_empty_zone(tmp_path: Path) -> None:
    driver = make_driver(tmp_path)
    driver.publish("empty.org", {})
    assert driver.records("empty.org") == {}
    assert (tmp_path / "hosts.empty.org").exists()


def test_missing_zone_is_empty(tmp_path: Path) -> None:
    assert make_driver(tmp_path).records("nowhere.org") == {}
    assert make_driver(tmp_path / "absent").records("nowhere.org") == {}


def test_reads_comments_and_aliases(tmp_path: Path) -> None:
    (tmp_path / "hosts.hand.org").write_text("# written by hand\n\n192.0.2.5 a b  # two names\n192.0.2.6\tc\n")
    assert make_driver(tmp_path).records("hand.org") == {"a": "192.0.2.5", "b": "192.0.2.5", "c": "192.0.2.6"}


@pytest.mark.parametrize("zone", ["", "a/b", "../etc", "a b", "a\tb", "a\nb", ".hidden", "a#b"])
def test_rejects_bad_zones(tmp_path: Path, zone: str) -> None:
    driver = make_driver(tmp_path)
    with pytest.raises(PvcError) as raised:
        driver.publish(zone, {"www": "192.0.2.10"})
    assert "\n" not in str(raised.value)
    with pytest.raises(PvcError):
        driver.records(zone)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("name", ["", "a/b", "a b", "a\tb", "a\nb", "#www", ".www"])
def test_rejects_bad_names(tmp_path: Path, name: str) -> None:
    driver = make_driver(tmp_path)
    with pytest.raises(PvcError, match=r"invalid name|name is empty") as raised:
        driver.publish("example.org", {"ok": "192.0.2.1", name: "192.0.2.10"})
    assert "\n" not in str(raised.value)
    assert os.listdir(tmp_path) == []  # nothing written: the zone keeps what it had


@pytest.mark.parametrize("address", ["", "not-an-ip", "192.0.2.300", "192.0.2.1 evil"])
def test_rejects_bad_addresses(tmp_path: Path, address: str) -> None:
    with pytest.raises(PvcError, match="is not an IP address"):
        make_driver(tmp_path).publish("example.org", {"www": address})


def test_write_failure_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(PvcError, match=r"cannot write zone example\.org") as raised:
        make_driver(blocker).publish("example.org", {"www": "192.0.2.10"})
    assert "\n" not in str(raised.value)


def test_default_directory_without_the_section() -> None:
    driver = HostsFileDns(cast("Host", FakeHost(FakeConfig())), "hostsfile")
    assert driver.hosts_file == "/var/lib/pvc/template-hosts"
    assert driver.path("example.org") == "/var/lib/pvc/template-hosts.example.org"
