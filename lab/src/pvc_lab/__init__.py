"""The PVC lab: a whole cluster on one Linux machine, for trying PVC and for the system tests.

The same code starts the ZooKeeper servers of the ``zk`` test tier and the lab's ensemble.
"""
