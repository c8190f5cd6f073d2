"""What the plugin keeps in ZooKeeper for listings, written on change only, under ``/plugins/storage-ceph``.

* ``pools``: the pools VM volumes may live in (JSON list), rewritten when a pool is added, changed or
  removed, and by the primary's periodic look when it differs.
* ``volumes/<pool>``: that pool's volumes (a JSON object, name -> volume), changed by the action that
  changed a volume; the primary's periodic look (``index_interval``) puts back what changed behind PVC's
  back. A listing of every volume is one read per pool, whatever the number of volumes.
* ``status``: Ceph's health, checks, PG states and OSD states, rewritten when one of them changes (the
  capacity figures only every ``usage_interval``), for ``pvc cluster status`` and ``/metrics``.

Sizes and usage of single volumes are never written periodically.
"""

from __future__ import annotations

import threading
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from pvc_core.roles.storage import Pool, Volume
from pvc_core.zk.session import encode
from pvc_storage_ceph.driver import ROOT

if TYPE_CHECKING:
    from pvc_core.zk.session import ZkSession

POOLS = f"{ROOT}/pools"
VOLUMES = f"{ROOT}/volumes"
STATUS = f"{ROOT}/status"
PATHS = (POOLS, VOLUMES)


def volume_entry(volume: Volume) -> dict[str, Any]:
    return {"size_bytes": volume.size_bytes, "parent": volume.parent}


class Index:
    """Reads and on-change writes of the listings; one writer at a time in this process."""

    def __init__(self, zk: ZkSession) -> None:
        self.zk = zk
        self.lock = threading.Lock()

    def _put_if_changed(self, path: str, value: Any) -> bool:
        data = encode(value)
        found = self.zk.get(path)
        if found is not None and found[0] == data:
            return False
        self.zk.put(path, data)
        return True

    # -- pools ------------------------------------------------------------------------------------------------

    def pools(self) -> list[dict[str, Any]]:
        return list(self.zk.get_json(POOLS) or [])

    def write_pools(self, pools: list[Pool]) -> bool:
        with self.lock:
            return self._put_if_changed(POOLS, [_pool_entry(p) for p in pools])

    # -- volumes ----------------------------------------------------------------------------------------------

    def volumes(self, pool: str | None = None) -> list[dict[str, Any]]:
        """Every volume listed (of ``pool``, or of every pool), sorted by pool and name: one read per pool."""
        pools = [pool] if pool is not None else self.zk.children(VOLUMES)
        found = self.zk.get_many([f"{VOLUMES}/{p}" for p in pools])
        listed: list[dict[str, Any]] = []
        for name, entry in zip(pools, found, strict=True):
            volumes = (_decode(entry[0]) if entry else None) or {}
            listed.extend({"pool": name, "name": v, **volumes[v]} for v in sorted(volumes))
        return listed

    def write_pool_volumes(self, pool: str, volumes: list[Volume]) -> bool:
        with self.lock:
            return self._put_if_changed(f"{VOLUMES}/{pool}", {v.name: volume_entry(v) for v in volumes})

    def update_volume(self, pool: str, name: str, volume: Volume | None, old_name: str | None = None) -> None:
        """Record one volume's change (``volume`` None: it is gone; ``old_name``: it was renamed)."""
        with self.lock:
            path = f"{VOLUMES}/{pool}"
            current = dict(self.zk.get_json(path) or {})
            current.pop(old_name or name, None)
            if volume is not None:
                current[volume.name] = volume_entry(volume)
            self._put_if_changed(path, dict(sorted(current.items())))

    def forget_pool(self, pool: str) -> None:
        with self.lock:
            self.zk.delete(f"{VOLUMES}/{pool}")

    # -- status -----------------------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        return dict(self.zk.get_json(STATUS) or {})

    def write_status(self, status: dict[str, Any]) -> bool:
        with self.lock:
            return self._put_if_changed(STATUS, status)


def _pool_entry(pool: Pool) -> dict[str, Any]:
    return {k: v for k, v in asdict(pool).items() if k in ("name", "replicas", "min_replicas", "pgs", "application")}


def _decode(data: bytes) -> Any:
    import json

    return json.loads(data) if data else None
