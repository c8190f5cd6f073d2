"""``pvc vm start`` -> the compute driver's start call on the target node: p50/p99 over 200 VMs.

Three real node daemons (the ``Daemon`` class, each with its own ZooKeeper session, dispatcher and VM
manager) run in this process with the libvirt driver on libvirt's test hypervisor; the driver's ``start`` is
wrapped to stamp when it is entered. A separate client session asks for each start through the client
library (the same call ``pvc vm start`` makes) and the figure is request sent -> driver entered, one clock.

    .venv/bin/python bench/bench_vm_start.py [--vms 200]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from _common import report, summary_ms, zookeeper

from pvc_compute_libvirt.driver import LibvirtCompute
from pvc_core.client import Cluster
from pvc_core.daemon import Daemon
from pvc_core.log import configure_logging

NODES = ["hv1", "hv2", "hv3"]
HYPERVISOR = """<node><cpu><mhz>2000</mhz><nodes>1</nodes><sockets>1</sockets><cores>16</cores><threads>1</threads>
</cpu><memory>67108864</memory></node>"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--vms", type=int, default=200)
    args = parser.parse_args()
    configure_logging(level="warning", json=True)
    entered: dict[str, float] = {}
    arrived = threading.Condition()
    real_start = LibvirtCompute.start

    def stamped_start(self: LibvirtCompute, uuid: str, xml: str) -> None:
        with arrived:
            entered.setdefault(uuid, time.perf_counter())
            arrived.notify_all()
        real_start(self, uuid, xml)

    LibvirtCompute.start = stamped_start  # type: ignore[method-assign]
    with zookeeper(29810) as server, tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        with Cluster.connect(server.hosts) as cluster:
            cluster.init()
        daemons = []
        for node in NODES:
            (directory / f"{node}.xml").write_text(HYPERVISOR)
            config = directory / f"{node}.yaml"
            config.write_text(
                json.dumps(
                    {
                        "node": node,
                        "coordinators": NODES,
                        "zookeeper": {"hosts": server.hosts},
                        "drivers": {"compute": "libvirt"},
                        "compute_libvirt": {"uri": f"test://{directory / node}.xml"},
                    }
                )
            )
            daemon = Daemon(config)
            daemon.start()
            daemons.append(daemon)
        latencies: list[float] = []
        try:
            with Cluster.connect(server.hosts) as cluster:
                cluster.wait_for_nodes(3, 30)
                time.sleep(1)
                records: list[Any] = []
                for i in range(args.vms):
                    xml = (
                        f"<domain type='test'><name>bench{i:04d}</name><memory unit='MiB'>64</memory>"
                        "<vcpu>1</vcpu><os><type>hvm</type></os></domain>"
                    )
                    records.append(cluster.vms.define(xml, target=NODES[i % 3]))
                for record in records:
                    sent = time.perf_counter()
                    cluster.vms.start(record.name)
                    with arrived:
                        if not arrived.wait_for(lambda r=record: r.uuid in entered, timeout=10):
                            raise SystemExit(f"{record.name} never reached the driver")
                    latencies.append(entered[record.uuid] - sent)
        finally:
            for daemon in daemons:
                daemon.shutdown()
    report(
        "vm_start",
        {
            "what": "client start request (library call, as pvc vm start) -> compute driver start entered on the node",
            "vms": len(latencies),
            "latency": summary_ms(latencies),
        },
    )


if __name__ == "__main__":
    main()
