"""``vm list`` at scale: 1,000 and 5,000 VMs across 10 nodes, through the client library and the CLI.

Records (and their summary buckets) are written straight into a throwaway ZooKeeper (no hypervisor is
involved in listing). For each
size: the library call's wall time (median of 5), the ZooKeeper requests and round trips it needed (a
pipelined batch is one round trip), and ``pvc vm list -o json`` as a new process (median of 3).

    .venv/bin/python bench/bench_vm_list.py [--sizes 1000 5000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
import uuid as uuidlib
from pathlib import Path

from _common import report, zookeeper

from pvc_core.client import Cluster
from pvc_core.nodes import NodeRecord
from pvc_core.vms.model import VmRecord
from pvc_core.zk import paths
from pvc_core.zk.session import encode

PVC = str(Path(sys.executable).with_name("pvc"))
NODES = [f"hv{i}" for i in range(1, 11)]
XML = "<domain type='kvm'><name>{name}</name><uuid>{uuid}</uuid><memory unit='MiB'>1024</memory></domain>"


def populate(cluster: Cluster, start: int, count: int) -> None:
    zk = cluster.zk
    for node in NODES:
        if zk.exists(paths.node(node)) is None:
            zk.create(paths.node(node), encode(NodeRecord(name=node, daemon_state="run").to_dict()))
        zk.ensure(paths.placement(node))
    pending = []
    buckets: dict[str, dict[str, object]] = {}
    for path, found in zip(paths.summary_buckets(), zk.get_many(paths.summary_buckets()), strict=True):
        buckets[path] = json.loads(found[0] or b"{}") if found else {}
    for i in range(start, start + count):
        name, uuid = f"vm{i:05d}", str(uuidlib.uuid4())
        node = NODES[i % len(NODES)]
        record = VmRecord(
            uuid=uuid,
            name=name,
            state="start",
            node=node,
            memory_mib=1024,
            vcpus=2,
            observed="running",
            tags=("bench",),
        )
        transaction = zk.transaction()
        transaction.create(paths.domain(uuid), encode(record.to_dict()))
        transaction.create(paths.domain_xml(uuid), XML.format(name=name, uuid=uuid).encode())
        transaction.create(paths.domain_name(name), uuid.encode())
        transaction.create(paths.placement(node, uuid), b"")
        pending.append(transaction.commit_async())
        buckets[paths.summary_bucket(uuid)][uuid] = record.to_dict()
        if len(pending) >= 500:
            for result in pending:
                result.get(timeout=30)
            pending.clear()
    for result in pending:
        result.get(timeout=30)
    for path, bucket in buckets.items():
        zk.set(path, encode(bucket))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000])
    args = parser.parse_args()
    results = []
    with zookeeper(28810) as server, Cluster.connect(server.hosts) as cluster:
        cluster.init()
        have = 0
        for size in sorted(args.sizes):
            populate(cluster, have, size - have)
            have = size
            walls, requests, trips = [], [], []
            for _ in range(5):
                before = (cluster.zk.requests, cluster.zk.round_trips)
                started = time.perf_counter()
                listed = cluster.vms.list()
                walls.append(time.perf_counter() - started)
                requests.append(cluster.zk.requests - before[0])
                trips.append(cluster.zk.round_trips - before[1])
                assert len(listed) == size
            cli = []
            for _ in range(3):
                started = time.perf_counter()
                subprocess.run([PVC, "-c", server.hosts, "vm", "list", "-o", "json"], check=True, capture_output=True)
                cli.append(time.perf_counter() - started)
            results.append(
                {
                    "vms": size,
                    "nodes": len(NODES),
                    "library_median_s": round(statistics.median(walls), 3),
                    "library_max_s": round(max(walls), 3),
                    "zookeeper_requests": requests[0],
                    "zookeeper_round_trips": trips[0],
                    "cli_median_s": round(statistics.median(cli), 3),
                }
            )
    report(
        "vm_list",
        {
            "what": "Cluster.vms.list() and `pvc vm list -o json` (direct ZooKeeper connection, loopback)",
            "results": results,
            "target": "5,000 VMs in <= 0.5 s for the library call; round trips not growing with the VM count",
        },
    )


if __name__ == "__main__":
    main()
