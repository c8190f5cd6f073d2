"""The ``powerdns`` fixture: one real PowerDNS (gsqlite3) on 127.0.0.1, DNS on port 25353 and its API on
28081, for the session; ``driver``: the powerdns driver on it, every zone removed after the test. The tests
that use them are in the ``zk`` tier (real services)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from pvc_dns_powerdns.driver import PowerDns
from pvc_dns_powerdns.testing import PowerDnsServer, missing

DNS_PORT = 25353
API_PORT = 28081


@pytest.fixture(scope="session")
def powerdns(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PowerDnsServer]:
    why = missing()
    if why:
        pytest.skip(f"{why} (scripts/setup test installs it)")
    with PowerDnsServer(tmp_path_factory.mktemp("powerdns"), DNS_PORT, API_PORT) as server:
        yield server


@pytest.fixture
def driver(powerdns: PowerDnsServer) -> Iterator[PowerDns]:
    made = powerdns.driver()
    yield made
    for zone in made.zones():
        made.remove_zone(zone)
