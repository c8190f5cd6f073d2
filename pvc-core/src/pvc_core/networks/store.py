"""Where the cluster's client networks live in ZooKeeper (owner ``builtin.networks``).

* ``networks/<VNI>``: one network (:class:`pvc_core.roles.network.Network` as JSON), written by the
  primary's actions under its epoch. A listing is two round trips whatever the number of networks.
* ``revision``: a counter bumped in the same transaction as every change of a network; every node
  watches this one znode and re-reads the networks when it moves.
* ``nodes/<NODE>``: what the node built, per VNI ``{"state": "present"|"failed"|"unsupported",
  "reason": ...}``,
  written by that node when it changes (the primary reads it for ``pvc network info``, for faults and
  for the wait of ``pvc network add``).
* ``status``: the primary's view for ``/metrics`` (problems, networks missing on nodes), on change.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from pvc_core import limits
from pvc_core.errors import NotFound
from pvc_core.roles.network import Network
from pvc_core.zk import paths
from pvc_core.zk.schema import Schema
from pvc_core.zk.session import decode, encode

if TYPE_CHECKING:
    from kazoo.client import TransactionRequest

    from pvc_core.zk.session import ZkSession

PLUGIN = "builtin.networks"
ROOT = paths.plugin_root(PLUGIN)
NETWORKS = f"{ROOT}/networks"
REVISION = f"{ROOT}/revision"
NODES = f"{ROOT}/nodes"
STATUS = f"{ROOT}/status"
SCHEMA = Schema(owner=PLUGIN, version=1, paths=(NETWORKS, REVISION, NODES))

VNI_TEXT = re.compile(r"^[0-9]{1,8}$")  # ASCII digits only: str.isdigit() also takes '²', which int() refuses


def is_vni(text: str) -> bool:
    """Whether ``text`` is written as a VNI (a network may be named by its VNI or its name)."""
    return bool(VNI_TEXT.match(text))


PRESENT = "present"
FAILED = "failed"
UNSUPPORTED = "unsupported"  # the node runs no driver for the network's kind


def fingerprint(network: Network) -> str:
    """A short digest of a network's definition: a node's report names the version it built."""
    return hashlib.sha1(encode(network.to_dict())).hexdigest()[:12]


def network_path(vni: int) -> str:
    return f"{NETWORKS}/{vni}"


def read_all(zk: ZkSession) -> list[Network]:
    """Every network, by VNI."""
    names = sorted((n for n in zk.children(NETWORKS) if is_vni(n)), key=int)
    found = zk.get_many([network_path(int(n)) for n in names])
    return [Network.from_dict(decode(entry[0])) for entry in found if entry is not None and entry[0]]


def find(networks: Iterable[Network], ref: str | int) -> Network | None:
    """The network a VM or an operator names: its VNI, or its name."""
    text = str(ref)
    for network in networks:
        if str(network.vni) == text or (network.name and network.name == text):
            return network
    return None


def get(zk: ZkSession, ref: str | int) -> Network:
    """The network named ``ref`` (VNI or name), or NotFound."""
    if is_vni(str(ref)):
        found = zk.get_json(network_path(int(ref)))
        if found is not None:
            return Network.from_dict(found)
    network = find(read_all(zk), ref)
    if network is None:
        raise NotFound(f"no network '{ref}' (pvc network list shows them)")
    return network


def _bump(zk: ZkSession, transaction: TransactionRequest) -> None:
    zk.ensure(REVISION)  # the schema makes it; a cluster that never had a primary since may not have it yet
    found = zk.get(REVISION)
    assert found is not None
    revision = int(decode(found[0]) or 0) if found[0] else 0
    transaction.set_data(REVISION, encode(revision + 1), version=found[1].version)


def save(zk: ZkSession, transaction: TransactionRequest, network: Network, create: bool) -> None:
    """Store ``network`` (new when ``create``) in ``transaction`` (the primary's), and commit it."""
    data = encode(network.to_dict())
    what = f"network {network.vni} (with its reservations and ACLs)"
    limits.check_bytes(len(data), limits.MAX_NETWORK_BYTES, "network", what)
    zk.ensure(NETWORKS)
    if create:
        transaction.create(network_path(network.vni), data)
    else:
        transaction.set_data(network_path(network.vni), data)
    _bump(zk, transaction)
    zk.commit(transaction, f"{'add' if create else 'change'} network {network.vni}")


def delete(zk: ZkSession, transaction: TransactionRequest, vni: int) -> None:
    transaction.delete(network_path(vni))
    _bump(zk, transaction)
    zk.commit(transaction, f"remove network {vni}")


def node_states(zk: ZkSession) -> dict[str, dict[str, dict[str, Any]]]:
    """node -> VNI (as text) -> {"state", "reason"}: what each node reported building."""
    names = zk.children(NODES)
    found = zk.get_many([f"{NODES}/{n}" for n in names])
    return {name: (decode(entry[0]) or {}) if entry else {} for name, entry in zip(names, found, strict=True)}


def write_node_state(zk: ZkSession, node: str, states: dict[str, dict[str, Any]]) -> None:
    zk.put(f"{NODES}/{node}", encode(states))
