"""The networks' gauges on pvcapid's ``/metrics``: networks by type, where each is built, the primary's
problems (the fault ``network``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pvc_core.metrics import Gauge
from pvc_core.networks import store

if TYPE_CHECKING:
    from pvc_core.zk.session import ZkSession


def gauges(zk: ZkSession) -> list[Gauge]:
    networks = store.read_all(zk)
    states = store.node_states(zk)
    kinds: dict[str, int] = {}
    for network in networks:
        kinds[network.kind] = kinds.get(network.kind, 0) + 1
    status = zk.get_json(store.STATUS) or {}
    return [
        Gauge(
            "pvc_networks",
            "Client networks defined, by type",
            [({"type": k}, float(n)) for k, n in sorted(kinds.items())],
        ),
        Gauge(
            "pvc_network_present",
            "1 when the node built the network, 0 when it failed to (nodes without a driver for it are left out)",
            [
                ({"network": vni, "node": node}, 1.0 if state.get("state") == store.PRESENT else 0.0)
                for node, found in sorted(states.items())
                for vni, state in sorted(found.items())
                if state.get("state") != store.UNSUPPORTED
            ],
        ),
        Gauge(
            "pvc_network_problems",
            "Problems the primary sees with the networks (the fault 'network' lists them)",
            [({}, float(len(status.get("problems", []))))],
        ),
    ]
