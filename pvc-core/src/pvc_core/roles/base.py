"""The common base of every driver."""

from __future__ import annotations

from abc import ABC
from typing import TYPE_CHECKING, ClassVar

from pvc_core.config import ConfigSection

if TYPE_CHECKING:
    from pvc_core.host import Host
    from pvc_core.zk.schema import Schema

DRIVER_GROUP_PREFIX = "pvc.drivers."


def driver_group(role: str) -> str:
    """The entry-point group a role's drivers register in: ``pvc.drivers.<role>``."""
    return DRIVER_GROUP_PREFIX + role


class Driver(ABC):
    """A driver instance lives for the daemon's lifetime; it gets the host at construction.

    A driver that needs settings declares its node-config section here; it is validated with the rest of
    the config and read with ``host.config.section(name)``. A driver that keeps data in ZooKeeper declares
    its subtree (under ``/plugins/<owner>``) as ``zk_schema``, exactly like a plugin's ``pvc_zk_schema``:
    the primary creates its paths and runs its migrations. ``contract`` is the range of PVC contracts the
    driver was written for (see :mod:`pvc_core.contract`); a driver without one, or built for another
    contract, is refused when it loads.
    """

    role: ClassVar[str]
    contract: ClassVar[str | None] = None
    config_section: ClassVar[ConfigSection | None] = None
    zk_schema: ClassVar[Schema | None] = None

    def __init__(self, host: Host, name: str) -> None:
        self.host = host
        self.name = name

    def close(self) -> None:  # noqa: B027 - optional for drivers
        """Release connections; called once when pvcd stops."""
