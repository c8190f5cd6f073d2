"""The HTTP API under load: ``GET /api/v1/vm`` with 5,000 VMs (latency p50/p99) and ``GET /api/v1/node``
(requests per second), measured with wrk on loopback against a real pvcapid on a real ZooKeeper, and single
requests for the VM list right after a VM changed (when pvcapid must decode and encode again).

    .venv/bin/python bench/bench_api.py [--vms 5000] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from _common import report, summary_ms, zookeeper
from bench_vm_list import populate

from pvc_api.keys import hash_key
from pvc_core.client import Cluster

KEY = "bench-key"
PVCAPID = str(Path(sys.executable).with_name("pvcapid"))
UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wrk(url: str, seconds: int, connections: int) -> dict[str, float]:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-H", f"X-Api-Key: {KEY}", url],
        capture_output=True,
        text=True,
        check=True,
        timeout=seconds + 60,
    ).stdout
    figures: dict[str, float] = {}
    for percent in ("50", "90", "99"):
        found = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s)\s*$", out, re.MULTILINE)
        if found:
            figures[f"p{percent}_ms"] = round(float(found.group(1)) * UNITS[found.group(2)], 2)
    rate = re.search(r"Requests/sec:\s+([\d.]+)", out)
    figures["requests_per_second"] = float(rate.group(1)) if rate else 0.0
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    figures["non_2xx"] = float(errors.group(1)) if errors else 0.0
    return figures


def get(url: str) -> float:
    request = urllib.request.Request(url, headers={"X-Api-Key": KEY})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=60) as response:
        response.read()
    return time.perf_counter() - started


def after_a_change(cluster: Cluster, url: str, count: int) -> dict[str, float]:
    """One request right after a VM changed (its bucket is read again and the listing's JSON rebuilt)."""
    name = cluster.vms.list()[0].name
    times = []
    for index in range(count):
        cluster.vms.tag(name, add=[f"bench-{index}"])
        times.append(get(url))
    return summary_ms(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--vms", type=int, default=5000)
    parser.add_argument("--seconds", type=int, default=10)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (Debian package wrk)")
    with zookeeper(30810) as server, tempfile.TemporaryDirectory() as tmp:
        with Cluster.connect(server.hosts) as cluster:
            cluster.init()
            populate(cluster, 0, args.vms)
        port = free_port()
        config = Path(tmp) / "pvcapid.yaml"
        config.write_text(
            json.dumps(
                {
                    "listen": "127.0.0.1",
                    "port": port,
                    "zookeeper": server.hosts,
                    "threads": 8,
                    "keys": [{"name": "bench", "hash": hash_key(KEY)}],
                }
            )
        )
        process = subprocess.Popen(
            [PVCAPID, "--config", str(config)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 30
            while socket.socket().connect_ex(("127.0.0.1", port)) != 0:
                if time.monotonic() > deadline:
                    raise SystemExit("pvcapid did not start")
                time.sleep(0.1)
            base = f"http://127.0.0.1:{port}/api/v1"
            with Cluster.connect(server.hosts) as cluster:
                changed = after_a_change(cluster, f"{base}/vm", 10)
            vms = wrk(f"{base}/vm", args.seconds, 4)
            nodes = wrk(f"{base}/node", args.seconds, 8)
        finally:
            process.terminate()
            process.wait(20)
    report(
        "api",
        {
            "what": "wrk on loopback against pvcapid (gunicorn, 1 worker, 8 threads) on a standalone ZooKeeper",
            "get_vm": {"vms": args.vms, "connections": 4, **vms},
            "get_vm_right_after_a_change": {"vms": args.vms, **changed},
            "get_node": {"nodes": 10, "connections": 8, **nodes},
            "target": "GET /api/v1/vm at 5,000 VMs: p99 <= 500 ms",
        },
    )


if __name__ == "__main__":
    main()
