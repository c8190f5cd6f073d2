"""The evpn driver for real, in network namespaces: EVPN between nodes with FRR, DHCP and DNS from dnsmasq,
ACLs with nftables, gateways that move, and an upstream router that learns the prefixes."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace

import pytest

from pvc_core.errors import InvalidRequest
from pvc_core.roles.network import AclRule, DhcpRange, Network, NetworkDriver, Reservation, Subnet
from pvc_core.testing import wait_until
from pvc_core.testing.netns import Netns
from pvc_core.testing.network_conformance import NetworkConformance
from pvc_network_evpn.testing import UPSTREAM_ADDRESS, Fabric, node_address

pytestmark = pytest.mark.system

NET = Network(
    vni=100,
    domain="net100.example",
    ipv4=Subnet("10.100.0.0/24", "10.100.0.1", DhcpRange("10.100.0.100", "10.100.0.199")),
)


def pings(vm: Netns, address: str, count: int = 1) -> bool:
    return vm.run("busybox", "ping", "-c", str(count), "-W", "1", address, check=False).returncode == 0


def mac_of(namespace: Netns, link: str = "eth0") -> str:
    return str(json.loads(namespace.ip("-j", "link", "show", link).stdout)[0]["address"])


def udhcpc(vm: Netns, hostname: str = "") -> str:
    """Ask for a lease with busybox's DHCP client; the address it got."""
    argv = ["busybox", "udhcpc", "-i", "eth0", "-n", "-q", "-f", "-t", "5", "-T", "1", "-s", "/bin/true"]
    if hostname:
        argv += ["-x", f"hostname:{hostname}"]
    result = vm.run(*argv, timeout=30)
    output = result.stdout + result.stderr  # udhcpc reports on standard error
    for line in output.splitlines():
        if "lease of" in line:
            return line.split("lease of", 1)[1].split()[0]
    raise AssertionError(f"udhcpc got no lease: {output}")


def dig(vm: Netns, server: str, name: str) -> str:
    return vm.run("dig", "+short", "+time=1", "+tries=2", f"@{server}", name, check=False).stdout.strip()


class TestEvpnConformance(NetworkConformance):
    @pytest.fixture
    def make_driver(self, fabric: Fabric) -> Callable[[], NetworkDriver]:
        return lambda: fabric.drivers[0]

    @pytest.fixture
    def network(self) -> Network:
        return NET


def test_vms_on_two_nodes_reach_each_other_over_evpn(fabric: Fabric) -> None:
    for driver in fabric.drivers:
        driver.ensure(NET)
    fabric.peer_all()
    here = fabric.vm(0, 100, "10.100.0.51/24")
    there = fabric.vm(1, 100, "10.100.0.52/24")
    wait_until(lambda: pings(here, "10.100.0.52"), timeout=30, what="a ping across the nodes")
    routes = fabric.frrs[0].vtysh("show bgp l2vpn evpn route")
    assert f"[3]:[0]:[32]:[{node_address(1)}]" in routes  # the other node's VTEP (type-3)
    assert f"[2]:[0]:[48]:[{mac_of(there)}]" in routes  # the MAC behind it (type-2)


def test_a_dhcp_lease_is_recorded_in_zookeeper_and_its_name_answers_in_dns(fabric: Fabric) -> None:
    primary = fabric.drivers[0]
    primary.ensure(NET)
    primary.ensure_services(NET)
    vm = fabric.vm(0, 100)
    address = udhcpc(vm, hostname="web1")
    assert address.startswith("10.100.0.1")
    # dnsmasq runs its lease script after it answered the client
    lease = wait_until(lambda: next((x for x in primary.leases(100) if x.mac == mac_of(vm)), None), what="the lease")
    assert (lease.address, lease.hostname) == (address, "web1")
    vm.ip("addr", "add", f"{address}/24", "dev", "eth0")
    assert dig(vm, "10.100.0.1", "web1.net100.example") == address


def test_a_reservation_gives_the_reserved_address(fabric: Fabric) -> None:
    primary = fabric.drivers[0]
    primary.ensure(NET)
    vm = fabric.vm(0, 100)
    reserved = replace(NET, reservations=(Reservation(mac_of(vm), "10.100.0.42", "db1"),))
    primary.ensure_services(reserved)
    assert udhcpc(vm) == "10.100.0.42"


def test_leases_survive_the_services_moving_to_another_node(fabric: Fabric) -> None:
    first, second = fabric.drivers
    for driver in fabric.drivers:
        driver.ensure(NET)
    fabric.peer_all()
    vm = fabric.vm(1, 100)
    first.ensure_services(NET)
    address = udhcpc(vm, hostname="web2")
    wait_until(lambda: any(x.address == address for x in first.leases(100)), what="the lease in ZooKeeper")
    first.remove_services(100)
    fabric.set_primary(1)
    second.ensure_services(NET)
    vm.ip("addr", "add", f"{address}/24", "dev", "eth0")
    # the new primary's dnsmasq started from the leases in ZooKeeper: it knows web2's name
    assert dig(vm, "10.100.0.1", "web2.net100.example") == address


def test_the_gateway_moves_with_the_services_and_vms_follow_at_once(fabric: Fabric) -> None:
    first, second = fabric.drivers
    for driver in fabric.drivers:
        driver.ensure(NET)
    fabric.peer_all()
    vm = fabric.vm(1, 100, "10.100.0.60/24", gateway="10.100.0.1")
    first.ensure_services(NET)
    wait_until(lambda: pings(vm, "10.100.0.1"), timeout=30, what="the gateway on the first node")
    first.remove_services(100)
    assert not pings(vm, "10.100.0.1")
    started = time.monotonic()
    second.ensure_services(NET)
    wait_until(lambda: pings(vm, "10.100.0.1"), timeout=10, what="the gateway on the second node")
    assert time.monotonic() - started < 10
    neighbours = json.loads(vm.ip("-j", "neigh", "show", "10.100.0.1").stdout)
    # the gratuitous ARP told the VM the gateway's new MAC
    assert neighbours[0]["lladdr"] == mac_of(fabric.nodes[1], "vmbr100")


def test_the_upstream_router_learns_the_prefix_from_every_coordinator(fabric: Fabric) -> None:
    for driver in fabric.drivers:
        driver.ensure(NET)
    fabric.peer_all()

    def paths() -> set[str]:
        found = json.loads(fabric.upstream_frr.vtysh("show bgp ipv4 unicast 10.100.0.0/24 json"))  # type: ignore[union-attr]
        return {p.get("peer", {}).get("peerId", "") for p in found.get("paths", [])}

    wait_until(lambda: paths() == {node_address(0), node_address(1)}, timeout=30, what="both coordinators' routes")


def test_traffic_from_upstream_reaches_a_vm_through_either_coordinator(fabric: Fabric) -> None:
    first, second = fabric.drivers
    for driver in fabric.drivers:
        driver.ensure(NET)
    fabric.peer_all()
    first.ensure_services(NET)
    second.route_to_primary(node_address(0))  # what the plugin does on a secondary coordinator
    fabric.vm(1, 100, "10.100.0.70/24", gateway="10.100.0.1")
    for coordinator in (0, 1):
        fabric.upstream.ip("route", "replace", "10.100.0.0/24", "via", node_address(coordinator))
        wait_until(
            lambda: pings(fabric.upstream, "10.100.0.70"), timeout=20, what=f"the VM through hv{coordinator + 1}"
        )


def test_acl_rules_drop_and_allow_routed_traffic(fabric: Fabric) -> None:
    primary = fabric.drivers[0]
    primary.ensure(NET)
    primary.ensure_services(NET)
    vm = fabric.vm(0, 100, "10.100.0.80/24", gateway="10.100.0.1")
    fabric.upstream.ip("route", "replace", "10.100.0.0/24", "via", node_address(0))
    wait_until(lambda: pings(fabric.upstream, "10.100.0.80"), timeout=20, what="the VM from upstream")
    guarded = replace(NET, acls=(AclRule("in", 10, "icmp type echo-request drop"),))
    primary.check_acls(guarded)
    primary.ensure_services(guarded)
    assert not pings(fabric.upstream, "10.100.0.80")
    assert pings(vm, UPSTREAM_ADDRESS)  # out of the network: no rule
    primary.ensure_services(replace(guarded, acls=(AclRule("in", 5, "ip saddr 10.99.0.254 accept"), *guarded.acls)))
    assert pings(fabric.upstream, "10.100.0.80")  # an earlier rule accepts it
    primary.ensure_services(NET)
    assert pings(fabric.upstream, "10.100.0.80")


def test_a_rule_nft_refuses_is_refused_with_nfts_reason(fabric: Fabric) -> None:
    bad = replace(NET, acls=(AclRule("in", 10, "tcp dport frobnicate drop"),))
    with pytest.raises(InvalidRequest, match=r"nft refuses the rules: .*frobnicate"):
        fabric.drivers[0].check_acls(bad)


def test_removing_the_services_takes_the_gateway_dnsmasq_and_rules_away(fabric: Fabric) -> None:
    primary = fabric.drivers[0]
    primary.ensure(NET)
    primary.ensure_services(replace(NET, acls=(AclRule("in", 1, "tcp dport 22 drop"),)))
    node = fabric.nodes[0]
    assert "10.100.0.1/24" in node.ip("addr", "show", "vmbr100").stdout
    primary.remove_services(100)
    assert "10.100.0.1/24" not in node.ip("addr", "show", "vmbr100").stdout
    assert "pvc_net_100" not in node.run("nft", "list", "tables").stdout
    assert primary.dhcp.running == {}
