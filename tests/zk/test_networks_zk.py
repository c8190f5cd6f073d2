"""``pvc network`` and ``/api/v1/plugins/network`` against real pvcds without a network driver: what the
primary checks before storing, and a network no node can build taken back in one line (the network
drivers themselves are tested for real in the system tier: plugins/network-*/tests, the lab)."""

from __future__ import annotations

from api_support import Api
from support import Nodes, run_pvc, wait_until

from pvc_core.client import Cluster

PLUGIN = "builtin.networks"


def primary_up(cluster: Cluster, zk_hosts: str, nodes: Nodes) -> None:
    nodes.start("hv1", zk_hosts, ["hv1"])
    wait_until(lambda: cluster.primary() == "hv1", what="hv1 primary")


def test_a_network_no_node_can_build_is_refused_and_not_kept(cluster: Cluster, zk_hosts: str, nodes: Nodes) -> None:
    primary_up(cluster, zk_hosts, nodes)
    result = run_pvc("-c", zk_hosts, "network", "add", "100", "--type", "managed", "--ipnet", "10.100.0.0/24")
    assert result.returncode != 0
    assert result.stderr.strip() == "pvc: error: no running node builds managed networks (no network driver for them)"
    assert cluster.plugin_call(PLUGIN, "list") == []


def test_bad_input_is_refused_before_anything_is_stored(cluster: Cluster, zk_hosts: str, nodes: Nodes) -> None:
    primary_up(cluster, zk_hosts, nodes)
    cases = [
        (["0", "--type", "managed"], "VNI 0 is outside 1..16777215 for a managed network"),
        (["100", "--type", "bridged", "--gateway", "10.0.0.1"], "a gateway needs its subnet (ipnet)"),
        (
            ["100", "--type", "managed", "--ipnet", "10.0.0.0/24", "--dhcp"],
            "a DHCP range needs dhcp_start and dhcp_end",
        ),
        (
            ["100", "--type", "managed", "--ipnet", "10.0.0.0/24", "--dns-server", "resolver"],
            "'resolver' is not an address",
        ),
    ]
    for args, message in cases:
        result = run_pvc("-c", zk_hosts, "network", "add", *args)
        assert result.returncode != 0 and message in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert cluster.plugin_call(PLUGIN, "list") == []


def test_the_api_answers_network_errors_in_its_shape(api: Api, cluster: Cluster, zk_hosts: str, nodes: Nodes) -> None:
    primary_up(cluster, zk_hosts, nodes)
    status, body, _ = api.call("GET", "/plugins/network")
    assert (status, body) == (200, [])
    status, body, _ = api.call("POST", "/plugins/network", {"vni": 100, "type": "managed", "mtu": "big"})
    assert status == 400 and body["field"] == "mtu"
    status, body, _ = api.call("POST", "/plugins/network", {"vni": 100, "type": "managed"})
    assert status == 409 and "no running node builds managed networks" in body["message"]
    status, body, _ = api.call("GET", "/plugins/network/100")
    assert status == 404 and body["message"] == "no network '100' (pvc network list shows them)"


def test_the_primary_hears_of_networks_added_changed_and_removed(cluster: Cluster, zk_hosts: str, nodes: Nodes) -> None:
    nodes.start("hv1", zk_hosts, ["hv1"], plugins={"enable": ["testplugin"]})
    wait_until(lambda: cluster.primary() == "hv1", what="hv1 primary")
    events = "/plugins/testplugin/network_events"
    cluster.plugin_call(PLUGIN, "add", {"vni": 100, "type": "managed", "wait": False})
    wait_until(lambda: cluster.zk.get_json(events), what="the first network event")
    cluster.plugin_call(PLUGIN, "modify", {"vni": 100, "domain": "blue.example", "wait": False})
    wait_until(lambda: len(cluster.zk.get_json(events) or []) >= 2, what="the second network event")
    cluster.plugin_call(PLUGIN, "remove", {"network": "100"})
    wait_until(lambda: len(cluster.zk.get_json(events) or []) >= 3, what="the third network event")
    assert cluster.zk.get_json(events) == [[100, "added"], [100, "- -> blue.example"], [100, "removed"]]
