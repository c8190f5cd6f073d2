"""The API's audit log in ZooKeeper: every mutating request pvcapid answered (when, which key, from where,
what, the outcome, its request id), kept bounded, read by ``pvc cluster audit``.

Entries are appended to chunks (``/audit/chunk-NNNNNNNNNN``, a JSON list of at most :data:`CHUNK`
entries each); a full chunk starts a new one and the oldest chunks go past :data:`CHUNKS`, so the log keeps
between ``(CHUNKS - 1) * CHUNK`` and ``CHUNKS * CHUNK`` entries. An append is a conditional write, retried
when another pvcapid appended at the same moment.
"""

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable, Iterator
from typing import Any

from pvc_core.errors import Conflict, PvcError
from pvc_core.zk import paths
from pvc_core.zk.session import ZkSession, decode, encode

CHUNK = 200
CHUNKS = 50
PREFIX = "chunk-"


class AuditLog:
    def __init__(self, zk: ZkSession) -> None:
        self.zk = zk

    def _chunks(self) -> list[str]:
        if self.zk.exists(paths.AUDIT) is None:
            return []
        return sorted(c for c in self.zk.children(paths.AUDIT) if c.startswith(PREFIX))

    def append(self, entry: dict[str, Any], attempts: int = 10) -> None:
        self.zk.ensure(paths.AUDIT)
        for attempt in range(attempts):
            chunks = self._chunks()
            try:
                if chunks:
                    path = f"{paths.AUDIT}/{chunks[-1]}"
                    found = self.zk.get(path)
                    entries = (decode(found[0]) or []) if found else []
                    if found is not None and len(entries) < CHUNK:
                        self.zk.set(path, encode([*entries, entry]), version=found[1].version)
                        return
                self.zk.create(f"{paths.AUDIT}/{PREFIX}", encode([entry]), sequence=True)
                for old in self._chunks()[:-CHUNKS]:
                    with contextlib.suppress(PvcError):  # another pvcapid trimmed it first
                        self.zk.delete(f"{paths.AUDIT}/{old}")
                return
            except Conflict:
                time.sleep(random.uniform(0, 0.01 * (attempt + 1)))
        raise Conflict(f"the audit log kept changing; gave up after {attempts} attempts")

    def read(self, lines: int = 50) -> list[dict[str, Any]]:
        """The last ``lines`` entries, oldest first."""
        found: list[dict[str, Any]] = []
        for chunk in reversed(self._chunks()):
            data = self.zk.get(f"{paths.AUDIT}/{chunk}")
            entries = (decode(data[0]) or []) if data else []
            found = [*entries, *found]
            if len(found) >= lines:
                break
        return found[-lines:] if lines > 0 else []

    def follow(self, interval: float = 1.0) -> Iterator[dict[str, Any]]:
        """Every entry from now on, as it is appended (a generator that never ends by itself)."""
        return follow(self.read, interval)


def follow(read: Callable[[int], list[dict[str, Any]]], interval: float = 1.0) -> Iterator[dict[str, Any]]:
    """Every entry ``read`` (the last N entries, over ZooKeeper or the API) shows from now on, each once."""
    seen = {(e.get("request_id"), e.get("at")) for e in read(CHUNK)}
    while True:
        time.sleep(interval)
        for entry in read(CHUNK):
            mark = (entry.get("request_id"), entry.get("at"))
            if mark not in seen:
                seen.add(mark)
                yield entry
