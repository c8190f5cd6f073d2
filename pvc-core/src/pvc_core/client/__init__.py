"""The Python bindings: one client library behind the CLI (connected to ZooKeeper) and pvcapid.

from pvc_core.client import Cluster

with Cluster.connect("127.0.0.1:2181") as cluster:
    for node in cluster.nodes():
        print(node.name, node.daemon_state, node.coordinator_state)

:class:`ClusterClient` is what a ``pvc`` command may rely on over either transport (ZooKeeper or the API).
"""

from pvc_core.client.cluster import Cluster, ClusterStatus, NodeView
from pvc_core.client.protocol import ClusterClient, PluginDataClient, VmsClient

__all__ = ["Cluster", "ClusterClient", "ClusterStatus", "NodeView", "PluginDataClient", "VmsClient"]
