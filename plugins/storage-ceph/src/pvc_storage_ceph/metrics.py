"""The plugin's gauges on pvcapid's ``/metrics``, from the ``status`` document the primary keeps."""

from __future__ import annotations

from typing import Any

from pvc_core.metrics import Gauge

HEALTH = {"ok": 0.0, "warn": 1.0, "error": 2.0}


def gauges(status: dict[str, Any]) -> list[Gauge]:
    """Nothing when no status was written yet (no primary with the plugin has looked at Ceph)."""
    if not status:
        return []
    pools = status.get("pools", {})
    osds = status.get("osd_states", [])
    return [
        Gauge("pvc_storage_health", "Ceph's health: 0 ok, 1 warn, 2 error", [({}, HEALTH.get(status["health"], 2.0))]),
        Gauge(
            "pvc_storage_bytes",
            "Ceph's raw capacity, bytes",
            [({"kind": kind}, float(status.get(f"{kind}_bytes", 0))) for kind in ("total", "used", "available")],
        ),
        Gauge(
            "pvc_storage_pool_bytes",
            "Bytes stored in a pool (one copy) and still available to it",
            [
                ({"pool": name, "kind": kind}, float(usage.get(f"{kind}_bytes", 0)))
                for name, usage in sorted(pools.items())
                for kind in ("stored", "available")
            ],
        ),
        Gauge(
            "pvc_storage_pool_objects",
            "Objects in a pool",
            [({"pool": name}, float(usage.get("objects", 0))) for name, usage in sorted(pools.items())],
        ),
        Gauge(
            "pvc_storage_osd_up",
            "1 when the OSD is up",
            [({"osd": str(o["id"]), "node": o["node"]}, 1.0 if o["up"] else 0.0) for o in osds],
        ),
        Gauge(
            "pvc_storage_osd_in",
            "1 when the OSD is in (takes data)",
            [({"osd": str(o["id"]), "node": o["node"]}, 1.0 if o["in"] else 0.0) for o in osds],
        ),
        Gauge(
            "pvc_storage_pgs",
            "Placement groups by state",
            [({"state": state}, float(count)) for state, count in sorted(status.get("pg_states", {}).items())],
        ),
    ]
