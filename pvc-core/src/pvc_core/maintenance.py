"""Cluster maintenance mode (``/config/maintenance``): while it is on, the primary fences nobody.

One reading and one writing of the flag for everyone (the fence monitor, the client bindings).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pvc_core.zk import paths

if TYPE_CHECKING:
    from pvc_core.zk.session import ZkSession

ON, OFF = b"true", b"false"


def parse(data: bytes | None) -> bool:
    """Whether the flag's data says on (a missing or unreadable flag is off)."""
    return data == ON


def read(zk: ZkSession) -> bool:
    found = zk.get(paths.MAINTENANCE)
    return parse(found[0] if found else None)


def write(zk: ZkSession, on: bool) -> None:
    zk.put(paths.MAINTENANCE, ON if on else OFF)
