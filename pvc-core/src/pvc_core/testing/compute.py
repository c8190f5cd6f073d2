"""Compute nodes for a test: pvcd with the libvirt compute driver on a private libvirt test-driver
hypervisor (needs pvc-compute-libvirt and python3-libvirt installed), and domains for it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pvc_core.testing.nodes import NodeProcess, Nodes

if TYPE_CHECKING:
    from pvc_core.client import Cluster

HYPERVISOR_XML = """<node>
  <cpu><mhz>2000</mhz><nodes>1</nodes><sockets>1</sockets><cores>{cpus}</cores><threads>1</threads></cpu>
  <memory>{memory_kib}</memory>
</node>
"""


def private_hypervisor(directory: Path, node: str, memory_mib: int = 4096, cpus: int = 4) -> str:
    """A private libvirt test-driver hypervisor for one node: its URI."""
    path = directory / f"{node}-hypervisor.xml"
    path.write_text(HYPERVISOR_XML.format(cpus=cpus, memory_kib=memory_mib * 1024))
    return f"test://{path}"


def domain_xml(name: str, memory_mib: int = 512, vcpus: int = 1, uuid: str | None = None, os_type: str = "hvm") -> str:
    """A minimal domain for libvirt's test driver (``os_type="exe"`` makes one it refuses to start)."""
    uuid_line = f"<uuid>{uuid}</uuid>" if uuid else ""
    return (
        f"<domain type='test'><name>{name}</name>{uuid_line}<memory unit='MiB'>{memory_mib}</memory>"
        f"<vcpu>{vcpus}</vcpu><os><type>{os_type}</type></os></domain>"
    )


def compute_nodes_ready(cluster: Cluster, count: int, primary: bool = True) -> Callable[[], bool]:
    """A condition for ``wait_until``: ``count`` nodes alive, running, with a compute driver that has
    published its resources (and a primary, unless ``primary`` is false)."""

    def ready() -> bool:
        running = sum(
            v.alive and v.daemon_state == "run" and "compute" in v.record.drivers and "vms" in v.record.resources
            for v in cluster.nodes()
        )
        return running == count and (not primary or bool(cluster.primary()))

    return ready


def compute_node(
    nodes: Nodes, name: str, hosts: str, coordinators: list[str], memory_mib: int = 4096, **extra: Any
) -> NodeProcess:
    """A pvcd with the libvirt compute driver on its own test-driver hypervisor (``extra``: more config)."""
    return nodes.start(
        name,
        hosts,
        coordinators,
        drivers={"compute": "libvirt"},
        compute_libvirt={"uri": private_hypervisor(nodes.directory, name, memory_mib)},
        vms={"shutdown_timeout": 5.0, "resync_interval": 1.0},
        **extra,
    )
