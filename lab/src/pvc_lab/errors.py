"""The lab's errors, in PVC's one family (:mod:`pvc_core.errors`): ``pvc lab`` ends each in one line.

Each part of the lab has its own subclass (the network, libvirtd, a BMC, the guest image, pvcapid), so a
failure names the part that failed; ZooKeeper's is :class:`pvc_core.testing.zookeeper.ZooKeeperServerError`.
A subprocess the lab runs that fails becomes one of these at the call (:func:`pvc_lab.processes.run`),
never a ``CalledProcessError`` traceback.
"""

from __future__ import annotations

from pvc_core.errors import PvcError


class LabError(PvcError):
    """The lab cannot be built, used or removed: what failed, and what to do (``pvc`` exit status 1)."""
