"""``InMemoryTestDns`` (``pvc.drivers.dns: memorydns``): a dns driver for tests, keeping zones in a dict.

Nothing is published anywhere and nothing survives the process: it exists to exercise the driver
machinery and the ``dns`` role's contract without a DNS server.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from pvc_core.errors import PvcError
from pvc_core.roles.dns import DnsDriver

if TYPE_CHECKING:
    from pvc_core.host import Host


def _check(kind: str, value: str) -> None:
    if not value or "/" in value or any(c.isspace() for c in value):
        raise PvcError(f"dns memorydns: invalid {kind} {value!r} (empty, '/' or whitespace)")


class InMemoryTestDns(DnsDriver):
    """A test-only DnsDriver: zone -> {name: address}, in this process's memory."""

    def __init__(self, host: Host, name: str) -> None:
        super().__init__(host, name)
        self.zones: dict[str, dict[str, str]] = {}

    def publish(self, zone: str, records: Mapping[str, str]) -> None:
        _check("zone", zone)
        for name, address in records.items():
            _check("name", name)
            _check("address", address)
        self.zones[zone] = dict(records)

    def records(self, zone: str) -> dict[str, str]:
        _check("zone", zone)
        return dict(self.zones.get(zone, {}))
