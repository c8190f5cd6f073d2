"""The dns-powerdns plugin in real pvcds against a real PowerDNS: the primary publishes the networks' names
(reservations here: these pvcds have no network driver, so leases and VM interfaces are the lab's to show),
the cluster zone with the nodes, follows changes at once, repairs drift and counts it, keeps answering
through a change of primary, and a PowerDNS that does not answer is a fault and one line, never a hang."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from pvc_core.client import Cluster
from pvc_core.roles.dns import DnsRecord
from pvc_core.testing.nodes import Nodes
from pvc_core.testing.programs import run_pvc
from pvc_core.testing.waiting import wait_until
from pvc_dns_powerdns.testing import PowerDnsServer

pytestmark = pytest.mark.zk
PLUGIN = "dns-powerdns"
DOMAIN = "net100.pvc-plugin.test"
CLUSTER_ZONE = "pvc-plugin.test"


def dig(server: PowerDnsServer, name: str, kind: str = "A") -> list[str]:
    argv = ["dig", "+short", "+time=2", "+tries=1", f"@{server.address}", "-p", str(server.dns_port), name, kind]
    found = subprocess.run(argv, capture_output=True, text=True, timeout=15, check=False).stdout
    return sorted(line for line in found.splitlines() if line)


def pvc(hosts: str, *args: str) -> subprocess.CompletedProcess[str]:
    return run_pvc("-c", hosts, *args)


def dns_config(server: PowerDnsServer, address: str, **more: Any) -> dict[str, Any]:
    return {
        "plugins": {"enable": [PLUGIN]},
        "drivers": {"dns": "powerdns"},
        "dns_powerdns": {
            "api_url": server.api_url,
            "api_key": server.api_key,
            "timeout": 2.0,
            "cluster_zone": CLUSTER_ZONE,
            "node_address": address,
            "check_interval": 2.0,
            **more,
        },
    }


@pytest.fixture
def powerdns_clean(powerdns: PowerDnsServer) -> Iterator[PowerDnsServer]:
    yield powerdns
    driver = powerdns.driver()
    for zone in driver.zones():
        driver.remove_zone(zone)


@pytest.fixture
def dns_cluster(cluster: Cluster, zk_hosts: str, nodes: Nodes, powerdns_clean: PowerDnsServer) -> Cluster:
    nodes.start("hv1", zk_hosts, ["hv1", "hv2"], **dns_config(powerdns_clean, "10.0.0.1"))
    wait_until(lambda: cluster.primary() == "hv1", timeout=30, what="hv1 primary")
    nodes.start("hv2", zk_hosts, ["hv1", "hv2"], **dns_config(powerdns_clean, "10.0.0.2"))
    cluster.wait_for_nodes(2, timeout=30)
    args = {
        "vni": 100,
        "type": "managed",
        "domain": DOMAIN,
        "ipnet": "10.100.0.0/24",
        "gateway": "10.100.0.1",
        "dhcp": True,
        "dhcp_start": "10.100.0.100",
        "dhcp_end": "10.100.0.199",
    }
    cluster.plugin_call("builtin.networks", "add", {**args, "wait": False})
    return cluster


def reserve(cluster: Cluster, mac: str, address: str, hostname: str) -> None:
    cluster.plugin_call(
        "builtin.networks", "dhcp.add", {"network": "100", "mac": mac, "address": address, "hostname": hostname}
    )


def test_the_primary_publishes_the_networks_names_and_the_cluster_zone(
    dns_cluster: Cluster, powerdns_clean: PowerDnsServer
) -> None:
    reserve(dns_cluster, "52:54:00:10:00:01", "10.100.0.11", "web1")
    wait_until(lambda: dig(powerdns_clean, f"web1.{DOMAIN}") == ["10.100.0.11"], timeout=15, what="web1 answers")
    assert dig(powerdns_clean, f"gateway.{DOMAIN}") == ["10.100.0.1"]
    assert dig(powerdns_clean, "11.0.100.10.in-addr.arpa", "PTR") == [f"web1.{DOMAIN}."]
    wait_until(lambda: dig(powerdns_clean, f"hv2.{CLUSTER_ZONE}") == ["10.0.0.2"], timeout=15, what="hv2 answers")
    assert dig(powerdns_clean, f"hv1.{CLUSTER_ZONE}") == ["10.0.0.1"]
    assert dig(powerdns_clean, DOMAIN, "NS") == [f"ns1.{CLUSTER_ZONE}."]
    listed = pvc(dns_cluster.zk.hosts, "network", "dns", "list", "100", "-o", "json")
    assert listed.returncode == 0, listed.stderr
    rows = {(r["name"], r["type"]): r["content"] for r in json.loads(listed.stdout)}
    assert rows[(f"web1.{DOMAIN}.", "A")] == "10.100.0.11"
    assert rows[("11.0.100.10.in-addr.arpa.", "PTR")] == f"web1.{DOMAIN}."
    assert (f"hv1.{CLUSTER_ZONE}.", "A") not in rows  # another zone


def test_names_follow_reservations_and_a_changed_domain_at_once(
    dns_cluster: Cluster, powerdns_clean: PowerDnsServer
) -> None:
    reserve(dns_cluster, "52:54:00:10:00:02", "10.100.0.12", "db1")
    wait_until(lambda: dig(powerdns_clean, f"db1.{DOMAIN}") == ["10.100.0.12"], timeout=15, what="db1 answers")
    dns_cluster.plugin_call("builtin.networks", "dhcp.remove", {"network": "100", "mac": "52:54:00:10:00:02"})
    wait_until(lambda: dig(powerdns_clean, f"db1.{DOMAIN}") == [], timeout=15, what="db1 gone")
    dns_cluster.plugin_call(
        "builtin.networks", "modify", {"vni": 100, "domain": "renamed.pvc-plugin.test", "wait": False}
    )
    wait_until(
        lambda: dig(powerdns_clean, "gateway.renamed.pvc-plugin.test") == ["10.100.0.1"], timeout=15, what="new zone"
    )
    assert DOMAIN not in powerdns_clean.driver().zones()  # the old zone went with it


def test_drift_is_put_back_and_counted(dns_cluster: Cluster, powerdns_clean: PowerDnsServer) -> None:
    reserve(dns_cluster, "52:54:00:10:00:03", "10.100.0.13", "app1")
    wait_until(lambda: dig(powerdns_clean, f"app1.{DOMAIN}") == ["10.100.0.13"], timeout=15, what="app1 answers")
    wait_until(lambda: (dns_cluster.plugin_data(PLUGIN).get("status") or {}).get("last_verify"), what="a check")
    powerdns_clean.driver().apply(DOMAIN, {("app1", "A"): [DnsRecord("app1", "A", "192.0.2.66")]})
    assert dig(powerdns_clean, f"app1.{DOMAIN}") == ["192.0.2.66"]
    wait_until(lambda: dig(powerdns_clean, f"app1.{DOMAIN}") == ["10.100.0.13"], timeout=15, what="app1 put back")
    status = dns_cluster.plugin_call(PLUGIN, "status")
    assert status["drift_repaired"] >= 1 and status["answers"] is True
    shown = pvc(dns_cluster.zk.hosts, "dns", "status")
    assert shown.returncode == 0 and "repaired since the primary took over" in shown.stdout, shown.stderr


def test_answers_survive_a_change_of_primary(dns_cluster: Cluster, powerdns_clean: PowerDnsServer) -> None:
    reserve(dns_cluster, "52:54:00:10:00:04", "10.100.0.14", "mail1")
    wait_until(lambda: dig(powerdns_clean, f"mail1.{DOMAIN}") == ["10.100.0.14"], timeout=15, what="mail1 answers")
    dns_cluster.request_primary("hv2", wait=True, timeout=30)
    reserve(dns_cluster, "52:54:00:10:00:05", "10.100.0.15", "mail2")  # hv2 follows changes now
    wait_until(lambda: dig(powerdns_clean, f"mail2.{DOMAIN}") == ["10.100.0.15"], timeout=15, what="mail2 answers")
    assert dig(powerdns_clean, f"mail1.{DOMAIN}") == ["10.100.0.14"]
    wait_until(lambda: dns_cluster.plugin_call(PLUGIN, "status").get("primary") == "hv2", what="hv2's status")


def test_a_powerdns_that_does_not_answer_is_a_fault_and_one_line(
    dns_cluster: Cluster, powerdns_clean: PowerDnsServer
) -> None:
    wait_until(lambda: dig(powerdns_clean, f"gateway.{DOMAIN}") == ["10.100.0.1"], timeout=15, what="published")
    powerdns_clean.stop()
    try:
        reserve(dns_cluster, "52:54:00:10:00:06", "10.100.0.16", "late1")
        wait_until(lambda: any(f.get("node") == "dns" for f in dns_cluster.faults()), timeout=20, what="the dns fault")
        fault = next(f for f in dns_cluster.faults() if f.get("node") == "dns")
        assert "PowerDNS at http://127.0.0.1:28081 does not answer" in fault["message"]
        shown = pvc(dns_cluster.zk.hosts, "dns", "status", "-o", "json")
        assert shown.returncode == 0, shown.stderr
        assert '"answers": false' in shown.stdout
    finally:
        powerdns_clean.start()
    wait_until(lambda: dig(powerdns_clean, f"late1.{DOMAIN}") == ["10.100.0.16"], timeout=20, what="late1 caught up")
    wait_until(lambda: not any(f.get("node") == "dns" for f in dns_cluster.faults()), timeout=20, what="fault cleared")


def test_unknown_networks_and_networks_without_names_are_one_line(dns_cluster: Cluster) -> None:
    unknown = pvc(dns_cluster.zk.hosts, "network", "dns", "list", "999")
    assert unknown.returncode != 0
    assert unknown.stderr.strip() == "pvc: error: no network '999' (pvc network list shows them)"
    dns_cluster.plugin_call("builtin.networks", "add", {"vni": 101, "type": "managed", "wait": False})
    nameless = pvc(dns_cluster.zk.hosts, "network", "dns", "list", "101")
    assert nameless.returncode != 0 and len(nameless.stderr.strip().splitlines()) == 1
    assert "network 101 publishes no names: it has no DNS domain" in nameless.stderr


def test_a_zone_powerdns_refuses_is_a_fault_naming_it_and_the_others_are_published(
    dns_cluster: Cluster, powerdns_clean: PowerDnsServer
) -> None:
    long_domain = ".".join(["a" * 61, "b" * 61, "c" * 61, "d" * 60])
    dns_cluster.plugin_call(
        "builtin.networks", "add", {"vni": 102, "type": "managed", "domain": long_domain, "wait": False}
    )
    fault = wait_until(
        lambda: next((f for f in dns_cluster.faults() if f.get("node") == "dns"), None), timeout=15, what="fault dns"
    )
    assert fault["message"].startswith(f"the cluster DNS is not in sync: PowerDNS refused zone {long_domain}: ")
    assert "\n" not in fault["message"]
    reserve(dns_cluster, "52:54:00:10:00:07", "10.100.0.17", "still1")
    wait_until(lambda: dig(powerdns_clean, f"still1.{DOMAIN}") == ["10.100.0.17"], timeout=15, what="others go on")
    dns_cluster.plugin_call("builtin.networks", "remove", {"network": "102"})
    wait_until(lambda: not any(f.get("node") == "dns" for f in dns_cluster.faults()), timeout=15, what="cleared")
