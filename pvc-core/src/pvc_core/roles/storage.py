"""The ``storage`` role: the shared block storage VM disks live on (Ceph RBD by default)."""

from __future__ import annotations

from abc import abstractmethod
from typing import Any, ClassVar

from pvc_core.roles.base import Driver


class StorageDriver(Driver):
    role: ClassVar[str] = "storage"

    @abstractmethod
    def health(self) -> dict[str, Any]:
        """The storage cluster's health as seen from this node: at least ``status`` (ok, warn, error)."""
