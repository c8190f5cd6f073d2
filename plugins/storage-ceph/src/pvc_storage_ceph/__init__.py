"""PVC's Ceph storage driver (RBD volumes through librados/librbd), and a throwaway Ceph cluster for tests.

* :mod:`pvc_storage_ceph.driver` - the ``storage`` role's ``ceph`` driver (entry point ``pvc.drivers.storage``).
* :mod:`pvc_storage_ceph.testing` - :class:`~pvc_storage_ceph.testing.CephCluster`, a real mon + mgr + OSDs on
  loopback in a directory, for tests.
"""
