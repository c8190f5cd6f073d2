"""What a plugin's or a driver's tests need from PVC, installed with pvc-core (``pvc-core[testing]`` adds
pytest).

* Fixtures, from the pytest plugin :mod:`pvc_core.testing.pytest_plugin` that pytest loads by itself
  (the ``pytest11`` entry point): ``zookeeper``, ``zk_hosts``, ``cluster``, ``nodes``.
* Helpers, imported from here: :func:`wait_until`; :class:`Nodes` and :class:`NodeProcess` (real pvcd
  processes); :func:`run_pvc` (the real ``pvc`` command); for VMs :func:`compute_node`,
  :func:`compute_nodes_ready`, :func:`private_hypervisor` and :func:`domain_xml`; :class:`ZooKeeper` for
  a server or an ensemble of a test's own.
* Conformance suites that third-party drivers run against themselves: :mod:`.compute_conformance`,
  :mod:`.dns_conformance`, :mod:`.fencing_conformance`.

Importing this package needs neither pytest nor a running service (the lab uses its ZooKeeper runner).
"""

from pvc_core.testing.compute import compute_node, compute_nodes_ready, domain_xml, private_hypervisor
from pvc_core.testing.nodes import NodeProcess, Nodes
from pvc_core.testing.programs import PVC, PVCD, run_pvc
from pvc_core.testing.waiting import wait_until
from pvc_core.testing.zookeeper import ZooKeeper, ZooKeeperServerError

__all__ = [
    "PVC",
    "PVCD",
    "NodeProcess",
    "Nodes",
    "ZooKeeper",
    "ZooKeeperServerError",
    "compute_node",
    "compute_nodes_ready",
    "domain_xml",
    "private_hypervisor",
    "run_pvc",
    "wait_until",
]
