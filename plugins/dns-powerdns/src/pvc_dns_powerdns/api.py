"""The DNS routes of the HTTP API, under ``/api/v1/plugins/dns`` (pvcapid only imports this module), and
the plugin's gauges on ``/metrics``.

Each route is the action ``pvc dns ...`` or ``pvc network dns ...`` asks for, carried out by the primary
coordinator (404 for an unknown network, 400 for one that publishes no names).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, jsonify

from pvc_core.metrics import Gauge

if TYPE_CHECKING:
    from pvc_core.api_context import ApiContext


def blueprint(api: ApiContext, plugin: str) -> Blueprint:
    routes = Blueprint("dns", __name__)

    def call(action: str, timeout: float = 30.0, **args: Any) -> Any:
        return jsonify(api.cluster.plugin_call(plugin, action, args, timeout))

    @routes.get("/status")
    def dns_status() -> Any:
        """The cluster DNS: whether PowerDNS answers, its zones, the last sync and the drift repaired."""
        return call("status")

    @routes.post("/sync")
    def dns_sync() -> Any:
        """Compare every zone with PowerDNS now and repair what differs; what it changed."""
        return call("sync", timeout=60.0)

    @routes.get("/networks/<network>")
    def dns_records(network: str) -> Any:
        """The records the cluster publishes for a network (by VNI or name): its zone and its PTRs."""
        return call("records", network=network)

    return routes


def gauges(status: dict[str, Any]) -> list[Gauge]:
    """Nothing until a primary with the plugin has synced once."""
    if not status:
        return []
    return [
        Gauge(
            "pvc_dns_in_sync",
            "Whether the last sync with PowerDNS succeeded",
            [({}, float(bool(status.get("reachable"))))],
        ),
        Gauge("pvc_dns_zones", "Zones the cluster publishes", [({}, float(len(status.get("zones", []))))]),
        Gauge("pvc_dns_records", "Records the cluster publishes", [({}, float(status.get("records", 0)))]),
        Gauge(
            "pvc_dns_drift_repaired",
            "Rrsets found changed behind the cluster's back and put back, since the primary took over",
            [({}, float(status.get("drift_repaired", 0)))],
        ),
    ]
