"""Securing a cluster's whole tree (``pvc cluster init --secure``) and checking it afterwards.

:func:`secure` writes ``/security`` and sets the cluster's ACL on every znode, level by level with the
requests of a level pipelined (a cluster of thousands of VMs is secured in seconds); it is idempotent, so
it also migrates an open tree, and repairs one whose ACLs drifted. :func:`check` lists the znodes whose ACL
is not the one their place calls for (the tests hold every path to it).
"""

from __future__ import annotations

from collections.abc import Iterator

from kazoo.exceptions import NoNodeError

from pvc_core.errors import InvalidRequest
from pvc_core.zk.security import SECURITY, ClusterAcls, Credential, acl_matches
from pvc_core.zk.session import ZkSession

ZOOKEEPER_OWN = "/zookeeper"  # ZooKeeper's own subtree (quotas, config): never PVC's to change


def _join(parent: str, child: str) -> str:
    return f"{parent.rstrip('/')}/{child}"


def levels(zk: ZkSession) -> Iterator[list[str]]:
    """Every znode of the tree, a level at a time (``/`` first), ZooKeeper's own subtree left out; the
    children of a level are asked for pipelined."""
    level = ["/"]
    while level:
        yield level
        pending = [(path, zk.client.get_children_async(path)) for path in level]
        following: list[str] = []
        for path, result in pending:
            try:
                children = zk.wait(result, f"children of {path}")
            except NoNodeError:
                continue  # deleted meanwhile
            following.extend(_join(path, c) for c in sorted(children) if _join(path, c) != ZOOKEEPER_OWN)
        level = following


def secure(zk: ZkSession, credentials: dict[str, Credential]) -> int:
    """Secure the tree for ``credentials`` (``node``, ``operator``, ``read``); return how many znodes were
    set. ``zk`` must be authenticated as the node credential (or reach an open tree)."""
    missing = {"node", "operator", "read"} - set(credentials)
    if missing:
        raise InvalidRequest(f"securing the cluster needs the {', '.join(sorted(missing))} credential(s)")
    if zk.credential is None or zk.credential.digest != credentials["node"].digest:
        raise InvalidRequest("the session securing the cluster must use the nodes' credential")
    acls = ClusterAcls({name: credential.digest for name, credential in credentials.items()})
    data = acls.to_json()
    if zk.exists(SECURITY) is None:
        zk.wait(zk.client.create_async(SECURITY, data, acl=acls.security), f"create {SECURITY}")
    else:
        zk.set(SECURITY, data)
    count = 0
    for level in levels(zk):
        pending = [(path, zk.client.set_acls_async(path, acls.for_path(path))) for path in level]
        for path, result in pending:
            try:
                zk.wait(result, f"set the ACL of {path}")
            except NoNodeError:
                continue
            count += 1
    zk.use_acls(acls)
    return count


def check(zk: ZkSession) -> list[str]:
    """The znodes whose ACL is not the cluster's for their place (all of them, on an open tree)."""
    if zk.acls is None:
        zk.load_acls()
    acls = zk.acls
    wrong: list[str] = []
    for level in levels(zk):
        pending = [(path, zk.client.get_acls_async(path)) for path in level]
        for path, result in pending:
            try:
                found, _stat = zk.wait(result, f"the ACL of {path}")
            except NoNodeError:
                continue
            if acls is None or not acl_matches(found, acls.for_path(path)):
                wrong.append(path)
    return wrong
