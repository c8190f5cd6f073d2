"""VM records in ZooKeeper: reads in a bounded number of round trips, writes as compare-and-set transactions
that keep the name index and the per-node placement index consistent with the records."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kazoo.exceptions import NoNodeError

from pvc_core.errors import InvalidRequest, NotFound
from pvc_core.vms.model import VmRecord
from pvc_core.zk import paths
from pvc_core.zk.session import Conflict, ZkSession, decode, encode


def _decode_record(uuid: str, data: bytes) -> VmRecord:
    raw = decode(data) or {}
    raw.setdefault("uuid", uuid)
    raw.setdefault("name", uuid)
    return VmRecord.from_dict(raw)


def resolve(zk: ZkSession, name_or_uuid: str) -> str:
    """A VM's UUID from its name (one index read) or its UUID."""
    found = zk.get(paths.domain_name(name_or_uuid))
    if found is not None:
        return found[0].decode()
    if zk.exists(paths.domain(name_or_uuid)) is not None:
        return name_or_uuid
    raise NotFound(f"no VM named '{name_or_uuid}' in this cluster")


def read(zk: ZkSession, uuid: str) -> tuple[VmRecord, int]:
    found = zk.get(paths.domain(uuid))
    if found is None:
        raise NotFound(f"no VM with UUID {uuid} in this cluster")
    return _decode_record(uuid, found[0]), found[1].version


def read_xml(zk: ZkSession, uuid: str) -> str:
    found = zk.get(paths.domain_xml(uuid))
    if found is None:
        raise NotFound(f"VM {uuid} has no domain XML")
    return found[0].decode()


def list_all(zk: ZkSession) -> list[VmRecord]:
    """Every VM: two sequential round trips (the children, then every summary pipelined)."""
    uuids = zk.children(paths.DOMAINS)
    records = []
    for uuid, found in zip(uuids, zk.get_many([paths.domain(u) for u in uuids]), strict=True):
        if found is not None:
            records.append(_decode_record(uuid, found[0]))
    return records


def list_on(zk: ZkSession, node: str) -> list[str]:
    """UUIDs of the VMs a node owns, from the placement index."""
    return zk.children(paths.placement(node))


def create(zk: ZkSession, record: VmRecord, xml: str) -> None:
    """Create the record, its XML and its index entries atomically; refuse a duplicate name or UUID."""
    if zk.exists(paths.domain_name(record.name)) is not None:
        raise InvalidRequest(f"a VM named '{record.name}' already exists")
    if zk.exists(paths.domain(record.uuid)) is not None:
        raise InvalidRequest(f"a VM with UUID {record.uuid} already exists")
    if record.node:
        zk.ensure(paths.placement(record.node))
    now = time.time()
    record = record.with_(created_at=now, updated_at=now)
    transaction = zk.transaction()
    transaction.create(paths.domain(record.uuid), encode(record.to_dict()))
    transaction.create(paths.domain_xml(record.uuid), xml.encode())
    transaction.create(paths.domain_name(record.name), record.uuid.encode())
    if record.node:
        transaction.create(paths.placement(record.node, record.uuid), b"")
    try:
        zk.commit(transaction, f"define VM {record.name}")
    except Conflict as exc:
        raise InvalidRequest(f"VM '{record.name}' ({record.uuid}) already exists (defined concurrently)") from exc


def update(
    zk: ZkSession,
    uuid: str,
    change: Callable[[VmRecord], VmRecord | None],
    xml: str | None = None,
    transaction_factory: Callable[[], Any] | None = None,
    attempts: int = 20,
) -> VmRecord:
    """Compare-and-set a VM's record; move index entries when its node or name changes.

    ``change`` gets the current record and returns the new one (or None: nothing to write). It may raise
    (a :class:`pvc_core.errors.Busy`, say) to refuse; it is re-run on a concurrent change.
    """
    for _ in range(attempts):
        record, version = read(zk, uuid)
        new = change(record)
        if new is None or (new == record and xml is None):
            return record
        new = new.with_(updated_at=time.time())
        transaction = transaction_factory() if transaction_factory is not None else zk.transaction()
        transaction.set_data(paths.domain(uuid), encode(new.to_dict()), version=version)
        if xml is not None:
            transaction.set_data(paths.domain_xml(uuid), xml.encode())
        if new.node != record.node:
            if record.node:
                transaction.delete(paths.placement(record.node, uuid))
            if new.node:
                zk.ensure(paths.placement(new.node))
                transaction.create(paths.placement(new.node, uuid), b"")
        if new.name != record.name:
            if zk.exists(paths.domain_name(new.name)) is not None:
                raise InvalidRequest(f"a VM named '{new.name}' already exists")
            transaction.delete(paths.domain_name(record.name))
            transaction.create(paths.domain_name(new.name), uuid.encode())
        try:
            zk.commit(transaction, f"update VM {record.name}")
        except (Conflict, NoNodeError):
            continue
        return new
    raise Conflict(f"VM {uuid}'s record kept changing; gave up after {attempts} attempts")


def remove(zk: ZkSession, uuid: str) -> VmRecord:
    record, version = read(zk, uuid)
    transaction = zk.transaction()
    for child in zk.children(paths.domain(uuid)):
        transaction.delete(f"{paths.domain(uuid)}/{child}")
    transaction.delete(paths.domain(uuid), version=version)
    transaction.delete(paths.domain_name(record.name))
    if record.node and zk.exists(paths.placement(record.node, uuid)) is not None:
        transaction.delete(paths.placement(record.node, uuid))
    zk.commit(transaction, f"remove VM {record.name}")
    return record
