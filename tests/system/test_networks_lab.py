"""Client networks in the lab, through ``pvc network`` and real guests: a managed network on every node,
DHCP and DNS from the primary, guests that reach each other across nodes, a gateway that moves with the
primary while the upstream router keeps its route, ACLs observed with real traffic, refusals and bad
input in one line, and bridged networks refused on this kernel (no 802.1q) with nothing left behind."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree

import pytest
from lab_support import put_back, two_guests

from pvc_core.client import Cluster
from pvc_core.testing import wait_until
from pvc_core.testing.netns import Netns, run_in
from pvc_core.testing.programs import run_pvc
from pvc_lab import demo_network, guest
from pvc_lab.lab import DEMO_GATEWAY, DEMO_SUBNET, DEMO_VNI, Lab

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (network namespaces)")
PLUGIN = "builtin.networks"


@pytest.fixture
def cluster(lab: Lab) -> Iterator[Cluster]:
    with lab.connect() as client:
        yield client
        put_back(lab, client)
        for network in client.plugin_call(PLUGIN, "list"):
            if network["vni"] != DEMO_VNI:
                client.plugin_call(PLUGIN, "remove", {"network": str(network["vni"])})
        for acl in client.plugin_call(PLUGIN, "acl.list", {"network": str(DEMO_VNI)}):
            client.plugin_call(PLUGIN, "acl.remove", {"network": str(DEMO_VNI), **acl})


def pvc(lab: Lab, *args: str) -> tuple[int, str]:
    """``pvc -c <the lab's connection> ARGS``: exit status and what it printed (output and errors)."""
    result = run_pvc("-c", lab.settings.connection_name, *args, timeout=120)
    return result.returncode, (result.stdout + result.stderr).strip()


@pytest.fixture
def guests(lab: Lab, cluster: Cluster) -> Iterator[tuple[str, str]]:
    names = ("net1", "net2")
    nodes = lab.settings.node_names()
    two_guests(lab, cluster, names, (nodes[0], nodes[1]))
    yield names
    for index in range(2):
        cluster.plugin_call(PLUGIN, "dhcp.remove", {"network": str(DEMO_VNI), "mac": f"52:54:00:99:00:0{index + 1}"})


def test_the_managed_network_is_built_on_every_node_and_offered_to_vms(lab: Lab, cluster: Cluster) -> None:
    status, output = pvc(lab, "network", "list", "-o", "json")
    assert status == 0, output
    demo = next(n for n in json.loads(output) if n["vni"] == DEMO_VNI)
    assert {node for node, state in demo["nodes"].items() if state["state"] == "present"} == set(
        lab.settings.node_names()
    )
    for view in cluster.nodes():
        assert {"100", "demo"} <= set(view.record.attachments.get("network", {}))


def test_guests_get_their_reserved_addresses_by_dhcp_and_reach_each_other_across_nodes(
    lab: Lab, cluster: Cluster, guests: tuple[str, str]
) -> None:
    lines = demo_network.console(cluster, guests[0])
    assert guest.leased_address(lines) == "10.100.0.60"
    assert guest.ping_answers(lines, guest.PEER_PING)  # the other node's guest answers over EVPN
    status, output = pvc(lab, "network", "dhcp", "list", "100", "--leases", "-o", "json")
    assert status == 0, output
    leases = {x["mac"]: x for x in json.loads(output)}
    assert leases["52:54:00:99:00:01"]["address"] == "10.100.0.60"
    assert leases["52:54:00:99:00:01"]["hostname"] == "net1"


def test_the_network_domain_answers_from_dnsmasq_on_the_gateway(lab: Lab, guests: tuple[str, str]) -> None:
    answer = run_in(lab.settings.upstream, "dig", "+short", "+time=2", f"@{DEMO_GATEWAY}", "net2.demo.pvc").stdout
    assert answer.strip() == "10.100.0.61"


def test_the_upstream_router_learns_the_network_from_every_coordinator(lab: Lab, cluster: Cluster) -> None:
    addresses = [lab.settings.node_address(i) for i in range(lab.settings.nodes)]
    wait_until(
        lambda: demo_network.upstream_route(lab.settings.upstream, DEMO_SUBNET) == sorted(addresses),
        timeout=60,
        what="the upstream router's route through every coordinator",
    )


def test_the_gateway_moves_with_the_primary_and_guests_keep_reaching_it(
    lab: Lab, cluster: Cluster, guests: tuple[str, str]
) -> None:
    before = cluster.primary()
    target = next(n for n in lab.settings.node_names() if n != before)
    marks = {name: demo_network.mark(cluster, name) for name in guests}
    started = time.monotonic()
    cluster.request_primary(target, wait=True, timeout=60)

    def gateway_on(node: str) -> bool:
        return f"{DEMO_GATEWAY}/24" in run_in(lab.settings.netns_of(node), "ip", "addr", "show", "vmbr100").stdout

    wait_until(lambda: gateway_on(target), timeout=30, what=f"the gateway on {target}")
    moved = time.monotonic() - started
    assert not gateway_on(before)
    time.sleep(3)
    for name in guests:
        _peer, gateway_lost = demo_network.lost_since(cluster, name, marks[name])
        assert gateway_lost >= 0, f"{name}: no answer from the gateway since the hand-over"
        assert gateway_lost <= 3.0, f"{name} lost {gateway_lost} s of gateway pings (hand-over took {moved:.1f} s)"
    assert demo_network.upstream_route(lab.settings.upstream, DEMO_SUBNET)  # kept throughout


def test_acl_rules_drop_and_allow_real_traffic_and_a_bad_rule_is_refused_with_nfts_reason(
    lab: Lab, cluster: Cluster, guests: tuple[str, str]
) -> None:
    upstream = lab.settings.upstream

    def reaches() -> bool:
        return run_in(upstream, "busybox", "ping", "-c", "1", "-W", "1", "10.100.0.60", check=False).returncode == 0

    wait_until(reaches, timeout=30, what="the guest from the upstream router")
    status, output = pvc(
        lab,
        "network",
        "acl",
        "add",
        "100",
        "--direction",
        "in",
        "--order",
        "10",
        "--rule",
        "icmp type echo-request drop",
    )
    assert status == 0, output
    wait_until(lambda: not reaches(), timeout=20, what="the ACL to drop the pings")
    status, output = pvc(
        lab, "network", "acl", "add", "100", "--direction", "in", "--rule", "tcp dport frobnicate drop"
    )
    assert status != 0 and "nft refuses the rules" in output and "frobnicate" in output
    assert len(output.splitlines()) == 1
    status, output = pvc(lab, "network", "acl", "remove", "100", "--direction", "in", "--order", "10")
    assert status == 0, output
    wait_until(reaches, timeout=20, what="the pings to pass again")


def test_a_dnsmasq_that_dies_is_started_again(lab: Lab, cluster: Cluster) -> None:
    primary = cluster.primary()
    assert primary is not None

    def dnsmasq() -> int | None:
        for pid in Netns(lab.settings.netns_of(primary)).pids():
            try:
                command = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if command.startswith("dnsmasq") and "vmbr100" in command:
                return pid
        return None

    first = wait_until(dnsmasq, timeout=20, what="the network's dnsmasq on the primary")
    os.kill(first, 9)
    wait_until(lambda: (pid := dnsmasq()) is not None and pid != first, timeout=30, what="a new dnsmasq")


def test_a_network_in_use_cannot_be_removed_and_its_vms_are_named(lab: Lab, cluster: Cluster) -> None:
    status, output = pvc(
        lab, "network", "add", "300", "--type", "managed", "--ipnet", "10.130.0.0/24", "--gateway", "10.130.0.1"
    )
    assert status == 0, output
    vmlinuz, initrd = lab.guest_image()
    cluster.vms.define(guest.domain_xml("user1", vmlinuz, initrd), networks=["300"])
    status, output = pvc(lab, "network", "remove", "300", "--yes")
    assert status != 0 and output.endswith("network 300 is in use by VM user1 (remove their interfaces first)")
    cluster.vms.remove("user1")
    status, output = pvc(lab, "network", "remove", "300", "--yes")
    assert status == 0, output
    wait_until(
        lambda: all("300" not in v.record.attachments.get("network", {}) for v in cluster.nodes()),
        what="every node to let network 300 go",
    )
    assert "vmbr300" not in run_in(lab.settings.netns_of(lab.settings.node_names()[0]), "ip", "-br", "link").stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["16777216", "--type", "managed"], "VNI 16777216 is outside 1..16777215"),
        (["100", "--type", "managed"], "network 100 exists already"),
        (
            ["301", "--type", "managed", "--ipnet", "10.100.0.128/25"],
            "10.100.0.128/25 overlaps 10.100.0.0/24 of network 100",
        ),
        (
            ["301", "--type", "managed", "--ipnet", "10.131.0.0/24", "--gateway", "10.132.0.1"],
            "10.132.0.1 is outside 10.131.0.0/24",
        ),
        (
            [
                "301",
                "--type",
                "managed",
                "--ipnet",
                "10.131.0.0/24",
                "--gateway",
                "10.131.0.1",
                "--dhcp",
                "--dhcp-start",
                "10.131.0.10",
                "--dhcp-end",
                "10.140.0.1",
            ],
            "10.140.0.1 is outside 10.131.0.0/24",
        ),
        (
            [
                "301",
                "--type",
                "managed",
                "--ipnet",
                "10.131.0.0/24",
                "--gateway",
                "10.131.0.50",
                "--dhcp",
                "--dhcp-start",
                "10.131.0.10",
                "--dhcp-end",
                "10.131.0.99",
            ],
            "crosses the gateway 10.131.0.50",
        ),
        (["301", "--type", "managed", "--mtu", "9001"], "MTU 9001 is outside 576..9000"),
    ],
)
def test_bad_networks_are_refused_in_one_line(lab: Lab, cluster: Cluster, args: list[str], message: str) -> None:
    status, output = pvc(lab, "network", "add", *args)
    assert status != 0 and message in output and len(output.splitlines()) == 1, output


def test_a_bad_mac_for_a_reservation_is_refused(lab: Lab, cluster: Cluster) -> None:
    status, output = pvc(lab, "network", "dhcp", "add", "100", "52:54:00:zz:00:01", "10.100.0.90")
    assert status != 0 and "is not a MAC address" in output and len(output.splitlines()) == 1, output


def test_a_bridged_network_on_a_kernel_without_8021q_is_refused_in_one_line_and_taken_back(
    lab: Lab, cluster: Cluster
) -> None:
    status, output = pvc(lab, "network", "add", "200", "--type", "bridged")
    assert status != 0 and len(output.splitlines()) == 1, output
    assert "could not be made on hv" in output and "no 802.1q VLAN support" in output
    assert 200 not in {n["vni"] for n in cluster.plugin_call(PLUGIN, "list")}
    for node in lab.settings.node_names():
        links = run_in(lab.settings.netns_of(node), "ip", "-br", "link").stdout
        assert "vmbr200" not in links and "vlan200" not in links


def test_a_node_that_died_as_primary_comes_back_without_the_gateway(lab: Lab, cluster: Cluster) -> None:
    """A power cut leaves the node's interfaces as they were (as a crashed pvcd does): when it runs again,
    it must not answer for the gateway beside the new primary."""
    old = cluster.primary()
    assert old is not None
    lab.bmc(old).power("off")
    wait_until(lambda: cluster.primary() not in (None, old), timeout=60, what="a new primary")
    new = cluster.primary()
    assert new is not None

    def holders() -> list[str]:
        return [
            node
            for node in lab.settings.node_names()
            if f"{DEMO_GATEWAY}/24" in run_in(lab.settings.netns_of(node), "ip", "addr", "show", "vmbr100").stdout
        ]

    wait_until(lambda: new in holders(), timeout=30, what=f"the gateway on {new}")
    address = lab.settings.node_address(lab.settings.node_names().index(old))

    def bgp_fault() -> bool:
        faults = {f["node"]: f["message"] for f in cluster.faults()}
        return f"BGP session with {address} is" in faults.get("network", "")

    wait_until(bgp_fault, timeout=60, what=f"the fault 'network' naming the BGP session with {address}")
    put_back(lab, cluster)  # powers the old primary on and makes it ready
    wait_until(lambda: holders() == [new], timeout=30, what=f"the gateway on {new} only")
    tables = run_in(lab.settings.netns_of(old), "nft", "list", "tables").stdout
    assert "pvc_net_100" not in tables


def test_an_interface_is_hot_plugged_into_a_running_guest_and_taken_out(
    lab: Lab, cluster: Cluster, guests: tuple[str, str]
) -> None:
    name = guests[0]

    def interfaces() -> list[str]:
        record = cluster.vms.get(name)
        uri = lab.libvirtd(record.node).uri
        xml = subprocess.run(
            ["virsh", "-c", uri, "dumpxml", record.uuid], capture_output=True, text=True, timeout=30, check=True
        ).stdout
        return sorted(m.get("address", "") for m in ElementTree.fromstring(xml).iter("mac"))

    assert interfaces() == ["52:54:00:99:00:01"]
    status, output = pvc(lab, "vm", "network", "add", name, "demo", "--macaddr", "52:54:00:99:00:09")
    assert status == 0 and output.endswith("added to the running VM"), output
    wait_until(lambda: interfaces() == ["52:54:00:99:00:01", "52:54:00:99:00:09"], timeout=30, what="the new interface")
    status, output = pvc(lab, "vm", "network", "remove", name, "52:54:00:99:00:09")
    assert status == 0, output
    wait_until(lambda: interfaces() == ["52:54:00:99:00:01"], timeout=30, what="the interface taken out")
    assert cluster.vms.get(name).failure_reason == ""
