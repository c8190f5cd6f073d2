"""The ``dns`` role: publishing the cluster's names (networks, VMs) to a DNS server."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Mapping
from typing import ClassVar

from pvc_core.roles.base import Driver


class DnsDriver(Driver):
    role: ClassVar[str] = "dns"

    @abstractmethod
    def publish(self, zone: str, records: Mapping[str, str]) -> None:
        """Make ``zone`` hold exactly ``records`` (name -> address), replacing what it held."""

    @abstractmethod
    def records(self, zone: str) -> dict[str, str]:
        """What ``zone`` holds now (name -> address); empty when the zone does not exist."""
