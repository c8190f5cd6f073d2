"""Managed networks in the lab (EVPN with FRR, gateways and DHCP on the primary), three figures, each a
median of ``--trials``:

* ``new_network_usable_s``: ``pvc network add`` of a new managed network -> a ping from a VM's side of the
  bridge on one node answered from the other node's (the endpoints are namespaces plugged into the nodes'
  bridges as libvirt plugs a tap; the add answers once every node built the network);
* ``gateway_unreachable_s``: while a VM pings the gateway every 0.1 s, the primary role is handed over
  (``pvc node primary``), and its node's power is cut: the time the gateway did not answer (lost pings
  x 0.1 s). The power cut is compared with the failover time (the new primary is elected first);
* ``migration_ping_loss_s``: two lab guests ping each other every 0.2 s while one is live-migrated: the
  pings lost (the worse direction), from the guests' own consoles.

Needs root (it brings up its own lab).

    .venv/bin/python bench/bench_networks.py [--trials 10]
"""

from __future__ import annotations

import argparse
import statistics
import time

from _common import lab_apart, report
from _pinger import Pinger

from pvc_core.client import Cluster
from pvc_core.testing.netns import Netns, veth
from pvc_lab import demo_network, guest
from pvc_lab.lab import DEMO_GATEWAY, DEMO_VNI, Lab

PLUGIN = "builtin.networks"
PING_INTERVAL = 0.1


def endpoint(lab: Lab, node: str, vni: int, name: str, address: str, gateway: str = "") -> Netns:
    """A VM's side of node ``node``'s bridge of network ``vni``: a namespace with ``eth0`` at ``address``."""
    vm = Netns(f"{lab.settings.prefix}-{name}").create()
    host = Netns(lab.settings.netns_of(node))
    host.ip("link", "del", f"b{name}", check=False)  # left by an earlier trial whose namespace lingered
    veth(host, f"b{name}", vm, "eth0")
    host.ip("link", "set", f"b{name}", "master", f"vmbr{vni}")
    vm.ip("addr", "add", address, "dev", "eth0")
    if gateway:
        vm.ip("route", "add", "default", "via", gateway)
    return vm


def new_network_usable(lab: Lab, cluster: Cluster, index: int) -> float:
    vni, subnet = 1000 + index, f"10.{180 + index}.0"
    nodes = lab.settings.node_names()
    started = time.monotonic()
    cluster.plugin_call(
        PLUGIN, "add", {"vni": vni, "type": "managed", "ipnet": f"{subnet}.0/24", "gateway": f"{subnet}.1"}, timeout=60
    )
    here = endpoint(lab, nodes[0], vni, "n1", f"{subnet}.11/24")
    there = endpoint(lab, nodes[1], vni, "n2", f"{subnet}.12/24")
    try:
        while here.run("busybox", "ping", "-c", "1", "-W", "1", f"{subnet}.12", check=False).returncode != 0:
            if time.monotonic() - started > 60:
                raise SystemExit(f"network {vni}: no ping across the nodes within 60 s")
        return time.monotonic() - started
    finally:
        here.delete()
        there.delete()
        cluster.plugin_call(PLUGIN, "remove", {"network": str(vni)})


class GatewayPinger:
    """A VM on a node that keeps its power, pinging the gateway every 0.1 s (:mod:`_pinger`)."""

    def __init__(self, lab: Lab, node: str) -> None:
        self.vm = endpoint(lab, node, DEMO_VNI, "gw", "10.100.0.250/24", DEMO_GATEWAY)
        self.pinger = Pinger(self.vm.name, DEMO_GATEWAY, PING_INTERVAL)

    def start(self) -> None:
        self.pinger.start()

    def stop(self) -> None:
        self.pinger.stop()
        self.vm.delete()


def outage(pinger: GatewayPinger, since: int, settle: float = 2.0) -> float:
    """Seconds the gateway did not answer after seq ``since``, once it has answered again for ``settle``."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        answered = pinger.pinger.answered
        later = [s for s in answered if s > since]
        if later and max(later) - min(later) > settle / PING_INTERVAL:
            found = pinger.pinger.outage_since(since)
            assert found is not None
            return found
        time.sleep(0.2)
    raise SystemExit(f"the gateway did not answer again within 120 s (last answer seq {pinger.pinger.last_answered()})")


def last_answer(pinger: GatewayPinger) -> int:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if pinger.pinger.last_answered() >= 5:
            return pinger.pinger.last_answered()
        time.sleep(0.1)
    raise SystemExit("the gateway never answered")


def restore(cluster: Cluster, lab: Lab, node: str) -> None:
    lab.bmc(node).power("on")
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not (cluster.node(node).alive and cluster.node(node).daemon_state == "run"):
        time.sleep(0.2)
    cluster.ready(node, wait=True, timeout=120)
    lab.wait_storage_settled()


def median(values: list[float]) -> dict[str, object]:
    return {"median_s": round(statistics.median(values), 2), "worst_s": round(max(values), 2), "all_s": values}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=10)
    args = parser.parse_args()
    with lab_apart("pvcn", "10.78.0.0/24", 28281, "netbench") as lab, lab.connect() as cluster:
        nodes = lab.settings.node_names()
        usable = [round(new_network_usable(lab, cluster, i), 2) for i in range(args.trials)]

        handover: list[float] = []
        power_cut: list[float] = []
        failover: list[float] = []
        for index in range(args.trials * 2):
            primary = cluster.primary()
            assert primary is not None
            keeps_power = next(n for n in nodes if n != primary)
            pinger = GatewayPinger(lab, keeps_power)
            pinger.start()
            try:
                since = last_answer(pinger)
                if index % 2 == 0:
                    target = next(n for n in nodes if n not in (primary, keeps_power))
                    cluster.request_primary(target, wait=False)
                    handover.append(outage(pinger, since))
                else:
                    cut = time.monotonic()
                    lab.bmc(primary).power("off")
                    while cluster.primary() in (None, primary) and time.monotonic() - cut < 120:
                        time.sleep(0.05)
                    failover.append(round(time.monotonic() - cut, 2))
                    power_cut.append(outage(pinger, since))
                    restore(cluster, lab, primary)
            finally:
                pinger.stop()

        vmlinuz, initrd = lab.guest_image()
        names = ("m1", "m2")
        for i, name in enumerate(names):
            mac, address = f"52:54:00:88:00:0{i + 1}", f"10.100.0.{70 + i}"
            cluster.plugin_call(PLUGIN, "dhcp.add", {"network": str(DEMO_VNI), "mac": mac, "address": address})
            xml = guest.domain_xml(name, vmlinuz, initrd, peer=f"10.100.0.{70 + 1 - i}")
            cluster.vms.define(xml, target=nodes[i], networks=[{"network": str(DEMO_VNI), "mac": mac}])
            cluster.vms.start(name)
        for name in names:
            cluster.vms.wait(name, timeout=120)
        if len(demo_network.wait_answering(cluster, list(names), timeout=120)) != 2:
            raise SystemExit("the guests did not get addresses and answer each other")
        migration: list[float] = []
        for index in range(args.trials):
            current = cluster.vms.get("m1").node
            target = nodes[(nodes.index(current) + 1) % len(nodes)]
            marks = {name: demo_network.mark(cluster, name) for name in names}
            cluster.vms.migrate("m1", target)
            cluster.vms.wait("m1", timeout=120)
            time.sleep(3)
            losses = [demo_network.lost_since(cluster, name, marks[name])[0] for name in names]
            if min(losses) < 0:
                raise SystemExit(f"a guest's pings stopped after migration {index}: {losses}")
            migration.append(max(losses))

    report(
        "networks",
        {
            "what": "managed networks in the lab (VXLAN + BGP EVPN with FRR, gateway and dnsmasq on the primary)",
            "new_network_usable_s": {
                **median(usable),
                "target_s": 3,
                "measures": "pvc network add -> a ping across two nodes' bridges answered",
            },
            "gateway_unreachable_s": {
                "handover": {**median(handover), "target_s": 2},
                "primary_power_cut": {
                    **median(power_cut),
                    "failover_s": median(failover),
                    "target": "within the failover time (new primary elected, gateways added)",
                },
                "measures": f"pings to the gateway every {PING_INTERVAL} s that got no answer, x {PING_INTERVAL} s",
            },
            "migration_ping_loss_s": {
                **median(migration),
                "target_s": 1,
                "measures": f"guest-to-guest pings every {guest.PEER_INTERVAL} s lost in a live migration (worse "
                "direction)",
            },
        },
    )


if __name__ == "__main__":
    main()
