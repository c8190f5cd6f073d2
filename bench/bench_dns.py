"""The cluster DNS (dns-powerdns on PowerDNS), two figures:

* ``lease_to_answer_s`` (median of ``--leases``, target 1 s): in a lab of its own, a DHCP client on a
  node's bridge of network 100 (a namespace plugged in as libvirt plugs a tap) takes a lease with a host
  name of its own; from the lease until the cluster DNS address answers that name (``dig`` from the
  upstream router every 20 ms): dnsmasq's lease script -> pvcd -> ZooKeeper -> pvc_network_leases_changed
  -> a PATCH of the changed rrsets -> PowerDNS.
* ``resync_s`` (target 5 s for 5,000 records): a PowerDNS of its own and the plugin's sync code: 5,000
  names on one network (an A and a PTR each: 10,000 records) published into empty zones; a full check that finds nothing
  to do; a full check after every record was deleted behind its back (all repaired); and one lease more
  on the fast path (only what changed, against what was last published).

Needs root for the lab part (``--leases 0`` skips it).

    .venv/bin/python bench/bench_dns.py [--leases 50] [--names 5000]
"""

from __future__ import annotations

import argparse
import ipaddress
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

from _common import lab_apart, report

from pvc_core.roles.network import DhcpRange, Lease, Network, Subnet
from pvc_core.testing.netns import Netns, veth
from pvc_core.vms.model import VmNetwork, VmRecord
from pvc_dns_powerdns.publication import plan, sync
from pvc_dns_powerdns.testing import PowerDnsServer
from pvc_lab import demo_network
from pvc_lab.lab import DEMO_DOMAIN, DEMO_VNI, Lab

DNS_PORT, API_PORT = 25354, 28082


def median(values: list[float]) -> dict[str, Any]:
    return {"median_s": round(statistics.median(values), 3), "worst_s": round(max(values), 3), "all_s": values}


def client(lab: Lab, node: str, index: int) -> Netns:
    """A DHCP client's namespace on ``node``'s bridge of network 100, with a MAC of its own."""
    name = f"d{index}"
    vm = Netns(f"{lab.settings.prefix}-{name}").create()
    host = Netns(lab.settings.netns_of(node))
    host.ip("link", "del", f"b{name}", check=False)
    veth(host, f"b{name}", vm, "eth0")
    host.ip("link", "set", f"b{name}", "master", f"vmbr{DEMO_VNI}")
    vm.ip("link", "set", "eth0", "address", f"52:54:00:77:{index // 256:02x}:{index % 256:02x}")
    return vm


def lease_to_answer(lab: Lab, node: str, index: int) -> float:
    vm = client(lab, node, index)
    hostname = f"bench{index}"
    try:
        taken = vm.run(
            "busybox",
            "udhcpc",
            "-i",
            "eth0",
            "-n",
            "-q",
            "-f",
            "-t",
            "10",
            "-T",
            "1",
            "-s",
            "/bin/true",
            "-x",
            f"hostname:{hostname}",
            check=False,
        )
        leased = time.monotonic()
        if taken.returncode != 0:
            raise SystemExit(f"no lease for {hostname}: {taken.stderr.strip()[-200:]}")
        name = f"{hostname}.{DEMO_DOMAIN}"
        while not demo_network.resolve(lab.settings.upstream, lab.settings.dns_address, name):
            if time.monotonic() - leased > 30:
                raise SystemExit(f"{name} did not answer within 30 s of its lease")
            time.sleep(0.02)
        return round(time.monotonic() - leased, 3)
    finally:
        vm.delete()


def lease_figures(leases: int) -> dict[str, Any]:

    with lab_apart("pvcd", "10.79.0.0/24", 28381, "dnsbench") as lab, lab.connect() as cluster:
        primary = cluster.primary()
        node = next(n for n in lab.settings.node_names() if n != primary)  # the lease crosses VXLAN to dnsmasq
        deadline = time.monotonic() + 60
        while not demo_network.resolve(lab.settings.upstream, lab.settings.dns_address, f"gateway.{DEMO_DOMAIN}"):
            if time.monotonic() > deadline:
                raise SystemExit("the cluster DNS address never answered")
            time.sleep(0.2)
        values = [lease_to_answer(lab, node, i) for i in range(leases)]
    return {
        **median(values),
        "target_s": 1,
        "measures": "a DHCP lease (busybox udhcpc on a node's bridge) -> its name answers at the cluster DNS address",
    }


def resync_figures(count: int) -> dict[str, Any]:
    network = Network(
        vni=100,
        domain="bench.pvc",
        ipv4=Subnet("10.200.0.0/16", "10.200.0.1", DhcpRange("10.200.1.0", "10.200.255.254")),
    )
    hosts = ipaddress.ip_network("10.200.0.0/16").hosts()
    addresses = [str(next(hosts)) for _ in range(count + 2)][2:]
    leases = [
        Lease(f"52:54:00:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}", a, "") for i, a in enumerate(addresses)
    ]
    vms = [
        VmRecord(uuid=f"u{i}", name=f"vm{i:05d}", networks=(VmNetwork("100", lease.mac),))
        for i, lease in enumerate(leases)
    ]
    nameservers = ("ns1.bench.pvc",)
    with tempfile.TemporaryDirectory() as tmp, PowerDnsServer(Path(tmp), DNS_PORT, API_PORT) as server:
        driver = server.driver(timeout=60.0)
        published: dict[str, Any] = {}

        def timed(publication: Any, managed: list[str], verify: bool) -> tuple[float, Any]:
            started = time.monotonic()
            done = sync(driver, publication, managed, published, verify)
            return round(time.monotonic() - started, 3), done

        started = time.monotonic()
        wanted = plan([network], {100: leases}, vms, nameservers, "10.0.0.53")
        planned = round(time.monotonic() - started, 3)
        records = sum(len(r) for rrsets in wanted.rrsets.values() for r in rrsets.values())
        first, report_first = timed(wanted, [], True)
        last = f"vm{count - 1:05d}.bench.pvc"
        argv = ["dig", "+short", "@127.0.0.1", "-p", str(DNS_PORT), last]
        answered = subprocess.run(argv, capture_output=True, text=True, timeout=10, check=False).stdout.split()
        if answered != [addresses[-1]]:
            raise SystemExit(f"{last} answers {answered}, not {addresses[-1]}: the publication did not land")
        zones = sorted(wanted.zones)
        unchanged, _ = timed(wanted, zones, True)
        for zone in zones:
            driver.apply(zone, {key: [] for key in published[zone]})  # every record deleted behind its back
        repaired, report_repaired = timed(wanted, zones, True)
        more = [*leases, Lease("52:54:00:ff:ff:ff", "10.200.255.250", "late")]
        one_more, report_one = timed(plan([network], {100: more}, vms, nameservers, "10.0.0.53"), zones, False)
    return {
        "names": count,
        "records": records,
        "plan_s": planned,
        "publish_into_empty_zones_s": first,
        "full_check_nothing_to_do_s": unchanged,
        "full_check_everything_deleted_s": repaired,
        "repaired_rrsets": report_repaired.drift_repaired,
        "one_lease_more_fast_path_s": one_more,
        "rrsets_written": {"first": report_first.rrsets_changed, "one_lease_more": report_one.rrsets_changed},
        "target_s": 5,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--leases", type=int, default=50)
    parser.add_argument("--names", type=int, default=5000, help="names to publish (an A and a PTR record each)")
    args = parser.parse_args()
    figures: dict[str, Any] = {"what": "the cluster DNS: dns-powerdns on PowerDNS 4.7 (gsqlite3)"}
    figures["resync_s"] = resync_figures(args.names)
    if args.leases:
        figures["lease_to_answer_s"] = lease_figures(args.leases)
    report("dns", figures)


if __name__ == "__main__":
    main()
