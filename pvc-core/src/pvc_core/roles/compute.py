"""The ``compute`` role: the hypervisor on this node (libvirt/QEMU by default)."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar

from pvc_core.roles.base import Driver


class ComputeDriver(Driver):
    role: ClassVar[str] = "compute"

    @abstractmethod
    def resources(self) -> dict[str, Any]:
        """What this hypervisor offers: at least ``cpus``, ``memory_total_mib``, ``memory_free_mib``."""

    @abstractmethod
    def running_vms(self) -> list[str]:
        """UUIDs of the VMs running on this node right now, whatever PVC believes."""
