"""High availability on a running cluster: real pvcd processes, real BMCs (ipmi_sim whose power-off kills
the node's pvcd), libvirt's test hypervisor per node. A dead node is fenced and its VMs start elsewhere;
a failed fence starts nothing and raises a fault; maintenance holds fencing; an operator can fence."""

from __future__ import annotations

import json
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import NodeProcess, Nodes, compute_nodes_ready, domain_xml, private_hypervisor, run_pvc, wait_until

from pvc_core.client import Cluster
from pvc_lab.bmc import Bmc, pid_power_script

pytestmark = pytest.mark.skipif(shutil.which("ipmi_sim") is None, reason="OpenIPMI's ipmi_sim is not installed")

NAMES = ["hv1", "hv2", "hv3"]


class HaCluster:
    def __init__(self, cluster: Cluster, hosts: str, nodes: Nodes, directory: Path) -> None:
        self.cluster, self.hosts, self.nodes, self.directory = cluster, hosts, nodes, directory
        self.bmcs: dict[str, Bmc] = {}
        self.processes: dict[str, NodeProcess] = {}

    def start(self, port: int, **extra: object) -> None:
        for index, name in enumerate(NAMES):
            folder = self.directory / f"bmc-{name}"
            folder.mkdir()
            control = pid_power_script(folder / "power.sh", folder / "node.pid", folder / "power")
            bmc = Bmc(folder, name, "127.0.0.1", port + index, "admin", "secret", control)
            bmc.start()
            self.bmcs[name] = bmc
            process = self.nodes.start(
                name,
                self.hosts,
                NAMES,
                drivers={"compute": "libvirt", "fencing": "ipmi"},
                compute_libvirt={"uri": private_hypervisor(self.directory, name)},
                fencing_ipmi=bmc.settings(),
                vms={"shutdown_timeout": 5.0, "resync_interval": 1.0},
                ha={"fence_retries": 1},
                **extra,
            )
            (folder / "node.pid").write_text(str(process.pid))
            self.processes[name] = process
        wait_until(compute_nodes_ready(self.cluster, 3, primary=False), what="three nodes")

    def stop(self) -> None:
        for bmc in self.bmcs.values():
            bmc.stop()

    def vms_on(self, node: str, count: int) -> list[str]:
        names = [f"{node}-vm{i}" for i in range(count)]
        for name in names:
            self.cluster.vms.define(domain_xml(name, 256), target=node)
            self.cluster.vms.start(name)
        for name in names:
            wait_until(
                lambda n=name: (r := self.cluster.vms.get(n)).observed == "running" and r.operation is None,
                what=f"{name} running",
            )
        return names


@pytest.fixture
def ha(
    cluster: Cluster, zk_hosts: str, nodes: Nodes, tmp_path: Path, request: pytest.FixtureRequest
) -> Iterator[HaCluster]:
    built = HaCluster(cluster, zk_hosts, nodes, tmp_path)
    port = 19710 + 10 * (abs(hash(request.node.name)) % 50)
    marker = request.node.get_closest_marker("node_config")
    try:
        built.start(port, **(marker.kwargs if marker else {}))
        yield built
    finally:
        built.stop()


def victim(ha: HaCluster) -> str:
    return next(n for n in NAMES if n != ha.cluster.primary())


def test_a_dead_node_is_fenced_and_its_vms_run_elsewhere(ha: HaCluster) -> None:
    node = victim(ha)
    vms = ha.vms_on(node, 2)
    ha.processes[node].kill()  # its pvcd (and the test hypervisor's guests with it) are gone
    view = wait_until(lambda: (v := ha.cluster.node(node)).daemon_state == "fenced" and v, timeout=30, what="fenced")
    assert view.record.domain_state == "flushed"
    assert (ha.directory / f"bmc-{node}" / "power").read_text().strip() == "0"  # powered off through its BMC
    for name in vms:
        record = wait_until(
            lambda n=name: (
                (r := ha.cluster.vms.get(n)).node != node and r.observed == "running" and not r.operation and r
            ),
            timeout=30,
            what=f"{name} recovered",
        )
        assert record.node not in (node, "") and record.recovered_from.startswith(
            f"{node} (fenced: power off confirmed)"
        )
    assert ha.cluster.faults() == []
    assert ha.cluster.fence_counts() == {"confirmed": 1, "failed": 0}


def test_a_fenced_node_shows_its_power_off_and_no_vms(ha: HaCluster) -> None:
    node = victim(ha)
    ha.vms_on(node, 2)
    running = wait_until(
        lambda: (r := ha.cluster.node(node).record.resources).get("vms") == 2 and r, what="two VMs published"
    )
    assert running["memory_provisioned_mib"] == 512 and running["vcpus_provisioned"] == 2
    ha.processes[node].kill()
    wait_until(lambda: ha.cluster.node(node).daemon_state == "fenced", timeout=30, what="fenced")
    info = json.loads(run_pvc("node", "info", node, "-o", "json", env={"PVC_CONNECTION": ha.hosts}).stdout)
    resources = info["resources"]
    # the BMC state the primary just confirmed, not the node's last probe from before it went away
    assert resources["bmc"] == "answers (power off, confirmed by the fence)"
    assert (resources["vms"], resources["memory_provisioned_mib"], resources["vcpus_provisioned"]) == (0, 0, 0)
    assert "load" not in resources and "memory_free_mib" not in resources  # nothing runs there
    assert resources["cpus"] == running["cpus"] and resources["memory_total_mib"] == running["memory_total_mib"]
    pretty = run_pvc("node", "info", node, env={"PVC_CONNECTION": ha.hosts}).stdout
    assert f"-/{running['memory_total_mib']} MiB free, 0 to VMs" in pretty


def test_a_failed_fence_starts_nothing_and_raises_a_fault(ha: HaCluster) -> None:
    node = victim(ha)
    vms = ha.vms_on(node, 1)
    ha.bmcs[node].stop()  # its BMC no longer answers
    ha.processes[node].kill()
    fault = wait_until(
        lambda: next((f for f in ha.cluster.faults() if f["node"] == node), None), timeout=60, what="a fault"
    )
    assert "fencing" in fault["message"] and "were not started elsewhere" in fault["message"]
    record = ha.cluster.vms.get(vms[0])
    assert record.node == node  # not started elsewhere
    assert ha.cluster.node(node).daemon_state == "dead"
    status = json.loads(run_pvc("cluster", "status", "-o", "json", env={"PVC_CONNECTION": ha.hosts}).stdout)
    assert status["healthy"] is False and status["faults"][0]["node"] == node
    assert ha.cluster.fence_counts() == {"confirmed": 0, "failed": 2}  # ha.fence_retries 1: two attempts


def test_maintenance_mode_holds_fencing(ha: HaCluster) -> None:
    assert run_pvc("cluster", "maintenance", "on", env={"PVC_CONNECTION": ha.hosts}).returncode == 0
    node = victim(ha)
    ha.processes[node].kill()
    fault = wait_until(
        lambda: next((f for f in ha.cluster.faults() if f["node"] == node), None), timeout=30, what="a held-back fault"
    )
    assert "maintenance mode is on" in fault["message"]
    assert (ha.directory / f"bmc-{node}" / "power").read_text().strip() == "1"  # never asked to power off
    assert run_pvc("cluster", "maintenance", "off", env={"PVC_CONNECTION": ha.hosts}).returncode == 0
    wait_until(lambda: ha.cluster.node(node).daemon_state == "fenced", timeout=30, what="fenced after maintenance")


def test_an_operator_can_fence_a_node(ha: HaCluster) -> None:
    node = victim(ha)
    vms = ha.vms_on(node, 1)
    refused = run_pvc("node", "fence", node, env={"PVC_CONNECTION": ha.hosts})
    assert refused.returncode == 1 and "add --yes to confirm" in refused.stderr
    fenced = run_pvc("node", "fence", node, "--yes", "--wait", env={"PVC_CONNECTION": ha.hosts})
    assert fenced.returncode == 0, fenced.stderr
    assert ha.processes[node].process is not None and ha.processes[node].process.wait(10) == -signal.SIGKILL
    wait_until(
        lambda: ha.cluster.vms.get(vms[0]).node != node and ha.cluster.vms.get(vms[0]).observed == "running",
        timeout=30,
        what="the VM recovered",
    )


def test_node_info_shows_whether_the_bmc_answers(ha: HaCluster) -> None:
    def bmc() -> object:
        info = json.loads(run_pvc("node", "info", "hv1", "-o", "json", env={"PVC_CONNECTION": ha.hosts}).stdout)
        return info["resources"].get("bmc")

    assert wait_until(bmc, what="hv1's BMC state") == "answers (power on)"


def test_an_operator_clears_a_fault(ha: HaCluster) -> None:
    env = {"PVC_CONNECTION": ha.hosts}
    missing = run_pvc("cluster", "fault", "clear", "hv3", env=env)
    assert missing.returncode == 4 and missing.stderr.strip() == "pvc: error: there is no fault about node hv3"
    ha.cluster.zk.create("/faults/hv3", b'{"node": "hv3", "message": "test"}', makepath=True)
    assert run_pvc("cluster", "fault", "clear", "hv3", env=env).returncode == 0
    assert ha.cluster.faults() == []


def test_a_node_back_after_a_failed_fence_comes_back_flushed_and_its_lost_vms_wait_for_ready(ha: HaCluster) -> None:
    node = victim(ha)
    vms = ha.vms_on(node, 1)
    ha.bmcs[node].stop()  # its fence fails
    ha.processes[node].kill()  # and the test hypervisor's guests go with its pvcd
    wait_until(lambda: any(f["node"] == node for f in ha.cluster.faults()), timeout=60, what="the failed fence")
    ha.processes[node].start()  # the operator starts it again
    view = wait_until(
        lambda: (v := ha.cluster.node(node)).alive and v.daemon_state == "run" and v, timeout=30, what="back"
    )
    assert view.record.domain_state == "flushed"
    assert view.record.domain_state_reason == "declared dead while it was away: pvc node ready brings it back"
    record = wait_until(lambda: (r := ha.cluster.vms.get(vms[0])).observed == "lost" and r, what="the VM seen lost")
    assert (record.state, record.node) == ("start", node)  # not "stopped outside PVC", and not started yet
    assert f"lost with {node}" in record.failure_reason
    wait_until(lambda: ha.cluster.faults() == [], timeout=30, what="the fault cleared: it is a member again")
    ha.cluster.ready(node, wait=True, timeout=30)
    wait_until(
        lambda: (r := ha.cluster.vms.get(vms[0])).observed == "running" and r.node == node and not r.operation,
        timeout=30,
        what="the VM running there again",
    )


@pytest.mark.node_config(timers={"keepalive": 1.0, "dead_grace": 30.0, "handover_timeout": 3.0})
def test_a_node_back_within_the_grace_starts_its_lost_vms_again(ha: HaCluster) -> None:
    node = victim(ha)
    vms = ha.vms_on(node, 2)
    ha.processes[node].kill()  # its guests go with it (the test hypervisor lives in pvcd)
    ha.processes[node].start()  # back long before anyone declares it dead
    for name in vms:
        record = wait_until(
            lambda n=name: (r := ha.cluster.vms.get(n)).observed == "running" and not r.operation and r,
            timeout=30,
            what=f"{name} running again",
        )
        assert record.node == node and record.state == "start"
    view = ha.cluster.node(node)
    assert (view.daemon_state, view.record.domain_state) == ("run", "ready")
    assert ha.cluster.fence_counts() == {"confirmed": 0, "failed": 0}
