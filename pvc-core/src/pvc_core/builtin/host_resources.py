"""Builtin plugin ``builtin.host-resources``: CPUs, memory and load of this host, read from the kernel.

A compute driver, when one is configured, reports what its hypervisor offers on top of this.
"""

from __future__ import annotations

import os
from typing import Any

from pvc_core import hookimpl
from pvc_core.host import Host

PVC_CONTRACT = ">=2.0,<3"


def read_meminfo(path: str = "/proc/meminfo") -> dict[str, int]:
    """``/proc/meminfo`` in KiB, by field name."""
    values: dict[str, int] = {}
    with open(path) as meminfo:
        for line in meminfo:
            name, _, rest = line.partition(":")
            fields = rest.split()
            if fields and fields[0].isdigit():
                values[name] = int(fields[0])
    return values


def host_resources() -> dict[str, Any]:
    meminfo = read_meminfo()
    load1, _, _ = os.getloadavg()
    return {
        "cpus": os.cpu_count() or 0,
        "memory_total_mib": meminfo.get("MemTotal", 0) // 1024,
        "memory_free_mib": meminfo.get("MemAvailable", meminfo.get("MemFree", 0)) // 1024,
        # one decimal: the record is rewritten only on change, so finer noise would mean a write per keepalive
        "load": round(load1, 1),
    }


@hookimpl
def pvc_node_resources(host: Host) -> dict[str, Any]:
    resources = host_resources()
    compute = host.driver("compute")
    if compute is not None:
        resources.update(compute.resources())  # type: ignore[attr-defined]
    return resources
