"""What attaches to a VM, on a running cluster: the test plugin offers a network on some nodes and gives VMs
an interface on it (pvc_node_attachments, pvc_vm_prepare, pvc_vm_release); the primary hears of VM
definitions, changes, renames and removals (pvc_vm_*); a plugin can refuse its node's start."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support import Nodes, compute_node, domain_xml, run_pvc, wait_until

from pvc_core.client import Cluster
from pvc_core.errors import InvalidRequest

NAMES = ["hv1", "hv2"]
ROOT = "/plugins/testplugin"


@pytest.fixture
def offering_cluster(cluster: Cluster, zk_hosts: str, nodes: Nodes) -> Iterator[Cluster]:
    """hv1 offers network 'blue' (the test plugin); hv2 runs the plugin too but offers nothing."""
    compute_node(
        nodes, "hv1", zk_hosts, NAMES, plugins={"enable": ["testplugin"]}, testplugin={"offer_network": "blue"}
    )
    compute_node(nodes, "hv2", zk_hosts, NAMES, plugins={"enable": ["testplugin"]})
    wait_until(
        lambda: (
            sum(v.alive and v.daemon_state == "run" and "migration_uri" in v.record.resources for v in cluster.nodes())
            == 2
            and cluster.node("hv1").record.attachments == {"network": {"blue": "testplugin"}}
            # in role (its primary work started), not just elected: VM events count from then on
            and any(v.coordinator_state == "primary" for v in cluster.nodes())
        ),
        what="two nodes, hv1 offering network blue, a primary in role",
    )
    yield cluster


def settled(cluster: Cluster, name: str, state: str) -> object:
    return wait_until(
        lambda: (r := cluster.vms.get(name)).operation is None and r.state == state and r,
        what=f"VM {name} to settle in {state}",
    )


def test_a_vm_on_an_offered_network_is_placed_where_it_is_offered_and_gets_its_interface(
    offering_cluster: Cluster, nodes: Nodes
) -> None:
    cluster = offering_cluster
    record = cluster.vms.define(domain_xml("web1"), networks=["blue"])
    assert record.node == "hv1"  # the only node offering 'blue'
    assert record.networks[0].network == "blue" and record.networks[0].mac.startswith("52:54:00:")
    cluster.vms.start("web1")
    settled(cluster, "web1", "start")
    assert cluster.zk.get(f"{ROOT}/prepared/hv1/web1")[0] == b"start"  # type: ignore[index]
    hv1 = next(n for n in nodes.started if n.name == "hv1")
    assert any(e.get("event") == "vm_started" and e.get("devices") == 1 for e in hv1.log_events())
    cluster.vms.stop("web1")
    settled(cluster, "web1", "stop")
    wait_until(lambda: cluster.zk.get(f"{ROOT}/released/hv1/web1"), what="the interface released")
    assert cluster.zk.get(f"{ROOT}/released/hv1/web1")[0] == b"stop"  # type: ignore[index]


def test_a_node_that_does_not_offer_a_vms_network_is_refused_with_the_reason(offering_cluster: Cluster) -> None:
    cluster = offering_cluster
    cluster.vms.define(domain_xml("web2"), networks=["blue"])
    cluster.vms.start("web2")
    settled(cluster, "web2", "start")
    with pytest.raises(InvalidRequest, match=r"cannot migrate VM web2 to hv2: network blue not available there"):
        cluster.vms.migrate("web2", "hv2")
    with pytest.raises(InvalidRequest, match=r"hv2: network blue not available there"):
        cluster.vms.migrate("web2")  # no other node can take it: each node's reason is shown
    cluster.vms.define(domain_xml("web3"), networks=["blue"])
    with pytest.raises(InvalidRequest, match=r"cannot start VM web3 on hv2: network blue not available there"):
        cluster.vms.start("web3", "hv2")


def test_a_definition_naming_a_network_nobody_offers_is_refused_naming_the_field(
    offering_cluster: Cluster, tmp_path: Path
) -> None:
    cluster = offering_cluster
    with pytest.raises(InvalidRequest, match=r"networks\[1\]: no node offers network 'green' \(offered: blue\)") as e:
        cluster.vms.define(domain_xml("web4"), networks=["blue", "green"])
    assert e.value.field == "networks[1]"
    with pytest.raises(InvalidRequest, match=r"volumes\[0\]: no enabled plugin provides volumes on any node"):
        cluster.vms.define(domain_xml("web4"), volumes=["vms/web4-disk0"])
    with pytest.raises(InvalidRequest, match=r"networks\[0\].mac: 'nonsense' is not a MAC address"):
        cluster.vms.define(domain_xml("web4"), networks=["blue,mac=nonsense"])
    assert cluster.vms.list() == []  # nothing was written
    xml = tmp_path / "web4.xml"
    xml.write_text(domain_xml("web4"))
    result = run_pvc("-c", cluster.zk.hosts, "vm", "define", "--network", "green", str(xml))
    assert (result.returncode, result.stderr) == (
        3,
        "pvc: error: networks[0]: no node offers network 'green' (offered: blue)\n",
    )


def test_a_failing_prepare_fails_the_start_naming_the_plugin(cluster: Cluster, zk_hosts: str, nodes: Nodes) -> None:
    compute_node(
        nodes,
        "hv1",
        zk_hosts,
        ["hv1"],
        plugins={"enable": ["testplugin"]},
        testplugin={"offer_network": "blue", "fail_prepare": True},
    )
    wait_until(lambda: cluster.node("hv1").record.attachments and cluster.primary(), what="hv1 offering blue")
    cluster.vms.define(domain_xml("web5"), networks=["blue"])
    cluster.vms.start("web5")
    record = settled(cluster, "web5", "fail")
    assert "plugin 'testplugin' could not prepare VM web5: testplugin cannot prepare network blue" in (
        record.failure_reason  # type: ignore[attr-defined]
    )


def test_the_primary_hears_of_definitions_changes_renames_and_removals(offering_cluster: Cluster) -> None:
    cluster = offering_cluster
    cluster.vms.define(domain_xml("app1"), networks=["blue"])
    cluster.vms.start("app1")
    settled(cluster, "app1", "start")  # runtime changes: no event
    cluster.vms.stop("app1")
    settled(cluster, "app1", "stop")
    cluster.vms.modify("app1", domain_xml("app1", memory_mib=768, uuid=cluster.vms.get("app1").uuid))
    cluster.vms.rename("app1", "app2")
    cluster.vms.remove("app2")
    expected = [
        ["defined", "app1", ""],
        ["modified", "app1", "revision 0 -> 1"],
        ["renamed", "app2", "app1"],
        ["removed", "app2", ""],
    ]
    wait_until(lambda: len(cluster.zk.get_json(f"{ROOT}/vm_events") or []) >= 4, what="four VM events")
    assert cluster.zk.get_json(f"{ROOT}/vm_events") == expected


def test_a_plugin_can_refuse_its_nodes_start_with_one_line(cluster: Cluster, zk_hosts: str, nodes: Nodes) -> None:
    node = nodes.start("hv1", zk_hosts, plugins={"enable": ["testplugin"]}, testplugin={"refuse_start": "no disk"})
    assert node.process is not None
    assert node.process.wait(timeout=30) == 1
    errors = [line for line in node.log().splitlines() if line.startswith("pvcd: error:")]
    assert errors == ["pvcd: error: plugin 'testplugin' refused to start: no disk"]
