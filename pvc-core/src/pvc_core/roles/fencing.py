"""The ``fencing`` role: cutting a node's power so that its VMs can safely start elsewhere."""

from __future__ import annotations

import enum
from abc import abstractmethod
from typing import ClassVar

from pvc_core.roles.base import Driver


class PowerState(enum.StrEnum):
    ON = "on"
    OFF = "off"
    UNKNOWN = "unknown"


class FencingDriver(Driver):
    role: ClassVar[str] = "fencing"

    @abstractmethod
    def power_status(self, node: str) -> PowerState:
        """Read the node's power state from its management controller; bounded by a timeout."""

    @abstractmethod
    def power_off(self, node: str) -> None:
        """Cut the node's power (hard off). Raise :class:`pvc_core.errors.PvcError` when it fails."""

    @abstractmethod
    def power_on(self, node: str) -> None:
        """Power the node on. Raise :class:`pvc_core.errors.PvcError` when it fails."""
