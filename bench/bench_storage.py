"""Storage through ``pvc``: volume create, snapshot and clone latency (median of 50 each), and ``pvc storage
volume list`` with 1,000 volumes.

A throwaway ZooKeeper (port 30810), a throwaway Ceph cluster (mon, mgr, three memstore OSDs on 127.0.0.1,
the test suite's ports 26789-26899: never run beside the tests) and one pvcd with the ceph driver and the
storage-ceph plugin (the primary, which carries the actions out). Each operation is timed two ways: as the
operator sees it, ``pvc storage ...`` as a new process (Python start, connection, the action, the answer),
and as the library call (``cluster.plugin_call``), which is what the API and scripts pay.

    .venv/bin/python bench/bench_storage.py [--runs 50] [--volumes 1000]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from _common import report, zookeeper

from pvc_core.client import Cluster
from pvc_core.testing import Nodes, wait_until
from pvc_core.testing.compute import private_hypervisor
from pvc_storage_ceph.testing import CephCluster

PVC = str(Path(sys.executable).with_name("pvc"))
PLUGIN = "storage-ceph"


def timed(runs: int, action: Callable[[int], object]) -> list[float]:
    seconds = []
    for index in range(runs):
        started = time.perf_counter()
        action(index)
        seconds.append(time.perf_counter() - started)
    return seconds


def figures(values: list[float]) -> dict[str, object]:
    ordered = sorted(values)
    return {
        "runs": len(values),
        "median_s": round(statistics.median(values), 4),
        "p90_s": round(ordered[int(len(ordered) * 0.9) - 1], 4),
        "worst_s": round(max(values), 4),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--volumes", type=int, default=1000)
    args = parser.parse_args()
    with (
        tempfile.TemporaryDirectory(prefix="pvc-bench-storage-") as directory,
        zookeeper(30810) as server,
        CephCluster(Path(directory) / "ceph") as ceph,
        Cluster.connect(server.hosts) as cluster,
    ):
        cluster.init()
        (Path(directory) / "nodes").mkdir()
        nodes = Nodes(Path(directory) / "nodes")
        try:
            nodes.start(
                "hv1",
                server.hosts,
                ["hv1"],
                drivers={"compute": "libvirt", "storage": "ceph"},
                compute_libvirt={"uri": private_hypervisor(nodes.directory, "hv1")},
                storage_ceph={"conffile": str(ceph.conffile), "keyring": str(ceph.keyring)},
                plugins={"enable": [PLUGIN]},
            )
            wait_until(lambda: cluster.primary() == "hv1", timeout=60, what="hv1 primary")
            results = run(cluster, server.hosts, args.runs, args.volumes)
        finally:
            nodes.stop_all()
    report("storage", results)


def run(cluster: Cluster, hosts: str, runs: int, volumes: int) -> dict[str, object]:
    def call(action: str, **arguments: object) -> object:
        return cluster.plugin_call(PLUGIN, action, dict(arguments), timeout=120)

    def pvc(*words: str) -> None:
        subprocess.run([PVC, "-c", hosts, "storage", *words], check=True, capture_output=True, timeout=60)

    call("pool.add", name="bench", replicas=1, min_replicas=1, pgs=32)
    call("volume.add", pool="bench", name="base", size="64M")
    through_pvc = {
        "volume_add": timed(runs, lambda i: pvc("volume", "add", f"bench/cli{i}", "64M")),
        "snapshot_add": timed(runs, lambda i: pvc("volume", "snapshot", "add", "bench/base", f"cli{i}")),
        "volume_clone": timed(runs, lambda i: pvc("volume", "clone", "bench/base", f"clicl{i}", "--snapshot", "cli0")),
    }
    through_library = {
        "volume_add": timed(runs, lambda i: call("volume.add", pool="bench", name=f"lib{i}", size="64M")),
        "snapshot_add": timed(runs, lambda i: call("snapshot.add", pool="bench", volume="base", name=f"lib{i}")),
        "volume_clone": timed(
            runs, lambda i: call("volume.clone", pool="bench", name="base", new_name=f"libcl{i}", snapshot="lib0")
        ),
    }
    existing = len(call("volume.list", pool="bench"))  # type: ignore[arg-type]
    for i in range(max(0, volumes - existing)):
        call("volume.add", pool="bench", name=f"fill{i:05d}", size="4M")
    listed = len(call("volume.list"))  # type: ignore[arg-type]
    list_pvc = timed(5, lambda _i: pvc("volume", "list", "-o", "json"))
    list_library = timed(5, lambda _i: call("volume.list"))
    return {
        "what": "pvc storage operations on a real Ceph cluster (memstore OSDs) through one pvcd, the primary",
        "through_pvc": {name: figures(values) for name, values in through_pvc.items()},
        "through_library": {name: figures(values) for name, values in through_library.items()},
        "volume_list": {
            "volumes": listed,
            "through_pvc": figures(list_pvc),
            "through_library": figures(list_library),
        },
        "target_median_s": {"volume_add": 0.5, "snapshot_add": 0.5, "volume_clone": 0.5, "volume_list_1000": 0.5},
    }


if __name__ == "__main__":
    main()
