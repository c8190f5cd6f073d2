"""Primary failover: kill -9 the primary's pvcd -> the new primary's ``pvc_become_primary`` hook has run.

Three real pvcd processes with default settings (session timeout 3 s) and the template plugin enabled,
whose ``pvc_become_primary`` writes the node and epoch to ``/plugins/template/primary``. Each trial kills
the primary with SIGKILL (no clean hand-over: its session must expire), waits for that znode to show a new
epoch, then restarts the killed node and waits for it to run again.

    .venv/bin/python bench/bench_primary_failover.py [--trials 20]
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import report, zookeeper

from pvc_core.client import Cluster

NAMES = ["hv1", "hv2", "hv3"]
PVCD = str(Path(sys.executable).with_name("pvcd"))


def start(name: str, directory: Path, hosts: str) -> subprocess.Popen[bytes]:
    config = directory / f"{name}.yaml"
    config.write_text(
        json.dumps(
            {
                "node": name,
                "coordinators": NAMES,
                "zookeeper": {"hosts": hosts},
                "plugins": {"enable": ["template"]},
                "template": {"hosts_file": str(directory / "hosts")},
                "logging": {"format": "json", "level": "warning"},
            }
        )
    )
    log = open(directory / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
    return subprocess.Popen(
        [PVCD, "--config", str(config)], stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )


def hook_record(cluster: Cluster) -> dict[str, object] | None:
    record = cluster.zk.get_json("/plugins/template/primary")
    return record if isinstance(record, dict) else None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=20)
    args = parser.parse_args()
    times: list[float] = []
    with zookeeper(27810) as server, tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        with Cluster.connect(server.hosts) as cluster:
            cluster.init()
            processes = {name: start(name, directory, server.hosts) for name in NAMES}
            try:
                cluster.wait_for_nodes(3, 60)
                for _ in range(args.trials):
                    while (before := hook_record(cluster)) is None or before.get("node") != cluster.primary():
                        time.sleep(0.05)
                    victim = str(before["node"])
                    killed_at = time.monotonic()
                    processes[victim].send_signal(signal.SIGKILL)
                    while True:
                        now = hook_record(cluster)
                        if now is not None and now.get("epoch") != before.get("epoch"):
                            times.append(time.monotonic() - killed_at)
                            break
                        time.sleep(0.01)
                    processes[victim].wait()
                    processes[victim] = start(victim, directory, server.hosts)
                    cluster.wait_for_nodes(3, 60)
            finally:
                for process in processes.values():
                    process.terminate()
                for process in processes.values():
                    try:
                        process.wait(20)
                    except subprocess.TimeoutExpired:
                        process.kill()
    report(
        "primary_failover",
        {
            "what": "SIGKILL of the primary's pvcd -> new primary's pvc_become_primary hook has run",
            "settings": "pvcd defaults (session_timeout 3 s); ZooKeeper tickTime 500 ms",
            "trials": len(times),
            "median_s": round(statistics.median(times), 3),
            "min_s": round(min(times), 3),
            "max_s": round(max(times), 3),
            "all_s": [round(t, 3) for t in times],
            "target_median_s": 5.0,
        },
    )


if __name__ == "__main__":
    main()
