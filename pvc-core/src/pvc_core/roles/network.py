"""The ``network`` role: one driver per network type (``evpn``, ``vlan``) that builds networks on a node."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar

from pvc_core.roles.base import Driver


class NetworkDriver(Driver):
    role: ClassVar[str] = "network"
    network_type: ClassVar[str]

    @abstractmethod
    def ensure_network(self, name: str, spec: dict[str, Any]) -> None:
        """Make the network exist on this node as ``spec`` describes (idempotent)."""

    @abstractmethod
    def remove_network(self, name: str) -> None:
        """Remove the network from this node (idempotent)."""
