"""The cluster DNS in the lab: a PowerDNS per coordinator, the dns-powerdns plugin on every node, the cluster
DNS address on the primary. Guests' names answer there from their reservations and leases, follow a VM's
rename and removal, reverse lookups answer; the address and the answers survive a change of primary; the
upstream router may transfer the zones and a node may not; drift is put back; a PowerDNS that dies is a
fault until it answers again."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

import pytest
from lab_support import put_back, two_guests

from pvc_core.client import Cluster
from pvc_core.roles.dns import DnsRecord
from pvc_core.testing import wait_until
from pvc_core.testing.netns import run_in
from pvc_core.testing.programs import run_pvc
from pvc_dns_powerdns.testing import PowerDnsServer
from pvc_lab import demo_network, guest
from pvc_lab.lab import CLUSTER_ZONE, DEMO_DOMAIN, DEMO_VNI, Lab

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (network namespaces)")
PLUGIN = "dns-powerdns"
LEASE_MAC = "52:54:00:99:00:09"  # no reservation: its address comes from the DHCP range


@pytest.fixture
def cluster(lab: Lab) -> Iterator[Cluster]:
    with lab.connect() as client:
        yield client
        put_back(lab, client)
        for index in range(2):
            mac = f"52:54:00:99:00:0{index + 1}"
            if mac in {r["mac"] for r in client.plugin_call("builtin.networks", "dhcp.list", {"network": "100"})}:
                client.plugin_call("builtin.networks", "dhcp.remove", {"network": str(DEMO_VNI), "mac": mac})


def dig(lab: Lab, name: str, kind: str = "A") -> list[str]:
    """What the cluster DNS address answers, asked from the upstream router (a client outside the cluster)."""
    return demo_network.resolve(lab.settings.upstream, lab.settings.dns_address, name, kind)


def holds_address(lab: Lab, node: str) -> bool:
    found = run_in(lab.settings.netns_of(node), "ip", "-j", "addr", "show", "dev", "eth0").stdout
    return any(a.get("local") == lab.settings.dns_address for link in json.loads(found) for a in link["addr_info"])


def test_guests_names_and_their_reverse_answer_at_the_cluster_dns_address(lab: Lab, cluster: Cluster) -> None:
    nodes = lab.settings.node_names()
    two_guests(lab, cluster, ("web1", "web2"), (nodes[0], nodes[1]))
    wait_until(lambda: dig(lab, f"web1.{DEMO_DOMAIN}") == ["10.100.0.60"], timeout=20, what="web1 answers")
    assert dig(lab, f"web2.{DEMO_DOMAIN}") == ["10.100.0.61"]
    assert dig(lab, "60.0.100.10.in-addr.arpa", "PTR") == [f"web1.{DEMO_DOMAIN}."]
    assert dig(lab, f"gateway.{DEMO_DOMAIN}") == ["10.100.0.1"]
    assert dig(lab, f"{nodes[1]}.{CLUSTER_ZONE}") == [lab.settings.node_address(1)]
    assert dig(lab, f"ns1.{CLUSTER_ZONE}") == [lab.settings.dns_address]
    primary = cluster.primary()
    assert primary is not None and holds_address(lab, primary)
    assert not any(holds_address(lab, n) for n in nodes if n != primary)


def test_a_leased_guests_name_follows_its_lease_its_rename_and_its_removal(lab: Lab, cluster: Cluster) -> None:
    vmlinuz, initrd = lab.guest_image()
    cluster.vms.define(guest.domain_xml("lease1", vmlinuz, initrd), networks=[{"network": "demo", "mac": LEASE_MAC}])
    cluster.vms.start("lease1")
    address = wait_until(
        lambda: guest.leased_address(demo_network.console(cluster, "lease1")), timeout=90, what="lease1's lease"
    )
    wait_until(lambda: dig(lab, f"lease1.{DEMO_DOMAIN}") == [address], timeout=10, what="lease1 answers")
    pointer = ".".join(reversed(address.split("."))) + ".in-addr.arpa"
    assert dig(lab, pointer, "PTR") == [f"lease1.{DEMO_DOMAIN}."]
    cluster.vms.stop("lease1")
    cluster.vms.wait("lease1", timeout=60)
    cluster.vms.rename("lease1", "renamed1")  # its lease stays (until it expires): the name follows the VM
    wait_until(lambda: dig(lab, f"renamed1.{DEMO_DOMAIN}") == [address], timeout=10, what="the new name")
    assert dig(lab, f"lease1.{DEMO_DOMAIN}") == []
    assert dig(lab, pointer, "PTR") == [f"renamed1.{DEMO_DOMAIN}."]
    cluster.vms.remove("renamed1")
    wait_until(lambda: dig(lab, f"renamed1.{DEMO_DOMAIN}") == [], timeout=10, what="the name gone with the VM")


def test_answers_and_the_address_move_with_the_primary(lab: Lab, cluster: Cluster) -> None:
    nodes = lab.settings.node_names()
    wait_until(lambda: dig(lab, f"gateway.{DEMO_DOMAIN}") == ["10.100.0.1"], timeout=20, what="answers")
    old = cluster.primary()
    new = next(n for n in nodes if n != old)
    cluster.request_primary(new, wait=True, timeout=60)
    wait_until(lambda: holds_address(lab, new), timeout=20, what=f"{new} holding the cluster DNS address")
    assert old is not None and not holds_address(lab, old)
    wait_until(lambda: dig(lab, f"gateway.{DEMO_DOMAIN}") == ["10.100.0.1"], timeout=20, what="answers again")
    status = cluster.plugin_call(PLUGIN, "status")
    assert status["primary"] == new and status["answers"] is True


def test_the_upstream_router_may_transfer_the_zones_and_a_node_may_not(lab: Lab, cluster: Cluster) -> None:
    wait_until(lambda: dig(lab, f"gateway.{DEMO_DOMAIN}"), timeout=20, what="answers")
    server = f"@{lab.settings.dns_address}"
    allowed = run_in(lab.settings.upstream, "dig", "+time=2", "+tries=1", server, DEMO_DOMAIN, "AXFR").stdout
    assert f"gateway.{DEMO_DOMAIN}." in allowed and "Transfer failed" not in allowed
    node = lab.settings.netns_of(lab.settings.node_names()[0])
    refused = run_in(node, "dig", "+time=2", "+tries=1", server, DEMO_DOMAIN, "AXFR").stdout
    assert "Transfer failed" in refused and f"gateway.{DEMO_DOMAIN}." not in refused


def test_a_record_changed_behind_the_clusters_back_is_put_back_and_counted(lab: Lab, cluster: Cluster) -> None:
    wait_until(lambda: dig(lab, f"gateway.{DEMO_DOMAIN}") == ["10.100.0.1"], timeout=20, what="answers")
    primary = cluster.primary()
    assert primary is not None
    before = cluster.plugin_call(PLUGIN, "status")["drift_repaired"]
    server = lab.powerdns(primary)
    intruder = PowerDnsServer(  # the driver on the primary's PowerDNS, used behind the cluster's back
        server.directory, server.dns_port, server.api_port, api_key=server.api_key, api_address=server.api_address
    )
    intruder.driver().apply(DEMO_DOMAIN, {("gateway", "A"): [DnsRecord("gateway", "A", "192.0.2.66", 300)]})
    assert dig(lab, f"gateway.{DEMO_DOMAIN}") == ["192.0.2.66"]
    result = run_pvc("-c", lab.settings.connection_name, "dns", "sync")
    assert result.returncode == 0 and "1 drifted" in result.stdout, result.stdout + result.stderr
    assert dig(lab, f"gateway.{DEMO_DOMAIN}") == ["10.100.0.1"]
    assert cluster.plugin_call(PLUGIN, "status")["drift_repaired"] == before + 1


def test_a_powerdns_that_dies_is_a_fault_until_it_answers_again(lab: Lab, cluster: Cluster) -> None:
    primary = cluster.primary()
    assert primary is not None
    lab.powerdns(primary).stop()
    try:
        late = {"network": "100", "mac": "52:54:00:99:00:01", "address": "10.100.0.60", "hostname": "late1"}
        cluster.plugin_call("builtin.networks", "dhcp.add", late)
        fault = wait_until(
            lambda: next((f for f in cluster.faults() if f.get("node") == "dns"), None), timeout=30, what="fault dns"
        )
        assert "does not answer" in fault["message"]
        result = run_pvc("-c", lab.settings.connection_name, "cluster", "status")
        assert "fault dns:" in result.stdout and "the cluster DNS is not in sync" in result.stdout, result.stdout
    finally:
        lab.start_powerdns(primary)
    wait_until(lambda: dig(lab, f"late1.{DEMO_DOMAIN}") == ["10.100.0.60"], timeout=30, what="late1 caught up")
    wait_until(lambda: not any(f.get("node") == "dns" for f in cluster.faults()), timeout=30, what="fault cleared")
