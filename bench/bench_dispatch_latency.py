"""Dispatch latency: a client's desired-state write -> the hook runs on the owning node.

A real pvcd (the ``Daemon`` class, its own ZooKeeper session, dispatcher thread and watches) runs with a
probe plugin watching ``/plugins/probe/desired/hv1``. A separate client session writes that znode 1,000
times, one after the other; the probe's ``pvc_zk_event`` hook stamps when it runs. Both stamps come from
one monotonic clock (same process), so the figure is exact: write sent -> hook entered.

    .venv/bin/python bench/bench_dispatch_latency.py [--events 1000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
import types
from pathlib import Path
from typing import Any

from _common import report, summary_ms, zookeeper

from pvc_core import hookimpl
from pvc_core.client import Cluster
from pvc_core.daemon import Daemon
from pvc_core.dispatch import Watch
from pvc_core.log import configure_logging
from pvc_core.zk.session import ZkSession

PATH = "/plugins/probe/desired/hv1"


def probe_plugin(arrivals: dict[int, float], arrived: threading.Condition) -> types.ModuleType:
    probe = types.ModuleType("probe")

    @hookimpl
    def pvc_zk_watches(host: Any) -> list[Watch]:
        return [Watch(path=PATH, kind="data", name="probe.desired")]

    @hookimpl
    def pvc_zk_event(host: Any, event: Any) -> None:
        now = time.perf_counter()
        if event.name == "probe.desired" and event.data:
            with arrived:
                arrivals[int(event.data)] = now
                arrived.notify_all()

    probe.pvc_zk_watches = pvc_zk_watches  # type: ignore[attr-defined]
    probe.pvc_zk_event = pvc_zk_event  # type: ignore[attr-defined]
    return probe


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=1000)
    args = parser.parse_args()
    configure_logging(level="warning", json=True)
    with zookeeper(26810) as server, tempfile.TemporaryDirectory() as directory:
        with Cluster.connect(server.hosts) as cluster:
            cluster.init()
            cluster.zk.ensure(PATH, b"0")
        config = Path(directory) / "pvcd.yaml"
        config.write_text(json.dumps({"node": "hv1", "coordinators": ["hv1"], "zookeeper": {"hosts": server.hosts}}))
        arrivals: dict[int, float] = {}
        arrived = threading.Condition()
        daemon = Daemon(config, extra_plugins=[("probe", probe_plugin(arrivals, arrived))])
        daemon.start()
        client = ZkSession(server.hosts)
        client.start()
        latencies = []
        try:
            for sequence in range(1, args.events + 1):
                sent = time.perf_counter()
                client.set(PATH, str(sequence).encode())
                with arrived:
                    if not arrived.wait_for(lambda sequence=sequence: sequence in arrivals, timeout=5):
                        raise SystemExit(f"event {sequence} never reached the hook")
                latencies.append(arrivals[sequence] - sent)
        finally:
            client.stop()
            daemon.shutdown()
    report(
        "dispatch_latency",
        {
            "what": "client write of a watched desired-state znode -> pvc_zk_event hook entered on the owning node",
            "zookeeper": "standalone, loopback",
            "latency": summary_ms(latencies),
            "target_p99_ms": 50,
        },
    )


if __name__ == "__main__":
    main()
