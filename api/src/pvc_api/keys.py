"""API keys as pvcapid checks them: its config's (role ``admin`` unless the file says otherwise) and those
made with ``pvc api key add`` (in ZooKeeper, re-read at most every :data:`REFRESH` seconds, so a removed key
stops working within that). Hashing and roles are :mod:`pvc_core.apikeys`'."""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from pvc_core.apikeys import ITERATIONS, SCHEME, Role, hash_key, verify

__all__ = ["ITERATIONS", "SCHEME", "Identity", "KeyRing", "hash_key", "verify"]
REFRESH = 5.0
MISS_REFRESH = 0.0  # an unknown key re-reads the stored keys (failed sign-ins are limited per address)


@dataclass(frozen=True)
class Identity:
    name: str
    role: str


class KeyRing:
    """Checks presented keys against the hashes; remembers good ones (by a SHA-256 of the key) to stay fast.

    ``configured``: name -> hash, or name -> (hash, role); ``stored``: reads the keys kept in ZooKeeper
    (name -> {"hash", "role"})."""

    def __init__(
        self,
        configured: Mapping[str, str | tuple[str, str]],
        stored: Callable[[], dict[str, dict[str, Any]]] | None = None,
    ) -> None:
        self.configured = {
            name: (value, Role.ADMIN.value) if isinstance(value, str) else value for name, value in configured.items()
        }
        self._stored_source = stored
        self._stored: dict[str, tuple[str, str]] = {}
        self._read_at = 0.0
        self._accepted: dict[str, Identity] = {}
        self._lock = threading.Lock()

    def _refresh(self, after: float | None = None) -> None:
        wait = REFRESH if after is None else after
        if self._stored_source is None or time.monotonic() - self._read_at < wait:
            return
        try:
            found = {
                n: (str(v.get("hash", "")), str(v.get("role", Role.READ.value)))
                for n, v in self._stored_source().items()
            }
        except Exception:  # noqa: BLE001 - ZooKeeper away: keep what was read last, try again later
            return
        with self._lock:
            self._read_at = time.monotonic()
            if found != self._stored:
                self._stored = found
                self._accepted.clear()  # a removed or changed key must not stay accepted

    def who(self, key: str | None) -> Identity | None:
        if not key:
            return None
        self._refresh()
        fingerprint = hashlib.sha256(key.encode()).hexdigest()
        known = self._accepted.get(fingerprint)
        if known is not None:
            return known
        found = self._match(key)
        if found is None and self._stored_source is not None:
            self._refresh(after=MISS_REFRESH)  # a key made a moment ago works at once (misses are rate-limited)
            found = self._match(key)
        if found is not None:
            with self._lock:
                self._accepted[fingerprint] = found
        return found

    def _match(self, key: str) -> Identity | None:
        for source in (self.configured, self._stored):
            for name, (stored, role) in source.items():
                if verify(key, stored):
                    return Identity(name, role)
        return None


class SignInLimiter:
    """Failed sign-ins (a key presented that no one holds) per source address: past ``limit`` within
    ``window`` seconds, that address is refused (429) until the oldest of them is ``window`` old, before
    any key it sends is hashed."""

    def __init__(self, limit: int = 10, window: float = 60.0) -> None:
        self.limit = limit
        self.window = window
        self._failures: dict[str, list[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, source: str, now: float) -> list[float]:
        kept = [t for t in self._failures.get(source, []) if now - t < self.window]
        if kept:
            self._failures[source] = kept
        else:
            self._failures.pop(source, None)
        return kept

    def wait(self, source: str) -> float:
        """Seconds ``source`` must wait before it may try again (0: it may now)."""
        now = time.monotonic()
        with self._lock:
            recent = self._recent(source, now)
            return self.window - (now - recent[0]) if len(recent) >= self.limit else 0.0

    def failed(self, source: str) -> None:
        now = time.monotonic()
        with self._lock:
            self._failures.setdefault(source, []).append(now)
            if len(self._failures) > 10_000:  # many addresses: forget the quiet ones
                for other in list(self._failures):
                    self._recent(other, now)
