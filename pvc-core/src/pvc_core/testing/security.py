"""Cleaning up after a test that secured its cluster: what the test made can only be removed with the node
credential, and the chroot's own root must be opened again for the fixture that removes the chroot."""

from __future__ import annotations

from kazoo.security import OPEN_ACL_UNSAFE

from pvc_core.client import Cluster
from pvc_core.zk.security import Credential


def remove_secured_tree(hosts: str, node: Credential) -> None:
    """Delete everything under ``hosts``' root with the node credential and give the root the open ACL."""
    with Cluster.connect(hosts, credential=node) as cluster:
        for child in cluster.zk.children("/"):
            cluster.zk.delete(f"/{child}", recursive=True)
        cluster.zk.client.set_acls("/", OPEN_ACL_UNSAFE)
