"""VM records in ZooKeeper: reads in a bounded number of requests, writes as compare-and-set transactions.

A VM's record lives at ``/domains/UUID`` (what its node watches) and, written in the same transaction, in
one of 64 summary buckets (``/domain_summaries/NN``, a JSON map UUID -> record), so listing every VM reads
64 znodes whatever the count. The name index and the per-node placement index change in the same
transactions too, so they never disagree with the records.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from kazoo.exceptions import NoNodeError

from pvc_core import limits
from pvc_core.errors import AlreadyExists, InvalidRequest, NotFound
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


def bucket_records(data: bytes) -> list[VmRecord]:
    """The VM records one summary bucket holds."""
    records = []
    for uuid, raw in (decode(data) or {}).items():
        raw.setdefault("uuid", uuid)
        records.append(VmRecord.from_dict(raw))
    return records


def list_all(zk: ZkSession) -> list[VmRecord]:
    """Every VM: one round trip of 64 pipelined bucket reads, whatever the count."""
    return [r for found in zk.get_many(paths.summary_buckets()) if found for r in bucket_records(found[0])]


class SummaryCache:
    """Every VM, read fresh on each call (one round trip of 64 pipelined bucket reads) but decoded only
    for the buckets that changed since the last call: a bucket is identified by the zxid of its last
    change, so an unchanged bucket is never parsed twice. ``version`` names what a listing was built from:
    two listings with the same version hold the same records. Safe to share between threads."""

    def __init__(self) -> None:
        self._buckets: dict[str, tuple[int, list[VmRecord]]] = {}

    def read(self, zk: ZkSession) -> tuple[list[VmRecord], tuple[int, ...]]:
        bucket_paths = paths.summary_buckets()
        records: list[VmRecord] = []
        version: list[int] = []
        for path, found in zip(bucket_paths, zk.get_many(bucket_paths), strict=True):
            if found is None:
                version.append(-1)
                continue
            zxid = found[1].mzxid
            cached = self._buckets.get(path)
            if cached is None or cached[0] != zxid:
                cached = (zxid, bucket_records(found[0]))
                self._buckets[path] = cached  # one assignment: readers in other threads see old or new
            version.append(zxid)
            records.extend(cached[1])
        return records, tuple(version)


def _bucket(zk: ZkSession, uuid: str) -> tuple[dict[str, Any], int]:
    path = paths.summary_bucket(uuid)
    found = zk.get(path)
    if found is None:  # a tree from before the buckets: create it on first use
        zk.ensure(path)
        found = zk.get(path)
        assert found is not None
    return (decode(found[0]) or {}), found[1].version


def _write_bucket(transaction: Any, uuid: str, bucket: dict[str, Any], version: int) -> None:
    data = encode(bucket)
    if len(data) > limits.MAX_BUCKET_BYTES:  # ZooKeeper would drop the connection, and the bucket's VMs stick
        raise InvalidRequest(
            f"VM {uuid}'s summary bucket would be {len(data)} bytes; at most {limits.MAX_BUCKET_BYTES} "
            "(the VMs sharing it have too much in their records: fewer tags, node limits, attachments)"
        )
    transaction.set_data(paths.summary_bucket(uuid), data, version=version)


def _record_data(record: VmRecord) -> bytes:
    """The record, encoded, once it is within :data:`limits.MAX_RECORD_BYTES` (its failure reason cut)."""
    if len(record.failure_reason) > limits.MAX_REASON_LENGTH:
        record = record.with_(failure_reason=limits.cut_reason(record.failure_reason))
    data = encode(record.to_dict())
    limits.check_bytes(len(data), limits.MAX_RECORD_BYTES, "record", f"VM {record.name}'s record")
    return data


def create(zk: ZkSession, record: VmRecord, xml: str) -> None:
    """Create the record, its XML and its index entries atomically; refuse a duplicate name or UUID."""
    if zk.exists(paths.domain_name(record.name)) is not None:
        raise AlreadyExists(f"a VM named '{record.name}' already exists")
    if zk.exists(paths.domain(record.uuid)) is not None:
        raise AlreadyExists(f"a VM with UUID {record.uuid} already exists")
    if record.node:
        zk.ensure(paths.placement(record.node))
    now = time.time()
    record = record.with_(created_at=now, updated_at=now)
    data = _record_data(record)
    limits.check_xml(xml)
    bucket, bucket_version = _bucket(zk, record.uuid)
    bucket[record.uuid] = decode(data)
    transaction = zk.transaction()
    transaction.create(paths.domain(record.uuid), data)
    _write_bucket(transaction, record.uuid, bucket, bucket_version)
    transaction.create(paths.domain_xml(record.uuid), xml.encode())
    transaction.create(paths.domain_name(record.name), record.uuid.encode())
    if record.node:
        transaction.create(paths.placement(record.node, record.uuid), b"")
    try:
        zk.commit(transaction, f"define VM {record.name}")
    except Conflict as exc:
        if zk.exists(paths.domain(record.uuid)) is None and zk.exists(paths.domain_name(record.name)) is None:
            return create(zk, record, xml)  # only its summary bucket moved meanwhile: again
        raise AlreadyExists(f"VM '{record.name}' ({record.uuid}) already exists (defined concurrently)") from exc


def update(
    zk: ZkSession,
    uuid: str,
    change: Callable[[VmRecord], VmRecord | None],
    xml: str | None = None,
    transaction_factory: Callable[[], Any] | None = None,
    attempts: int = 20,
    redefined: bool | None = None,
) -> VmRecord:
    """Compare-and-set a VM's record; move index entries when its node or name changes.

    A new ``xml`` moves the record's ``revision`` on (a modification, for ``pvc_vm_modified``) unless
    ``redefined`` is False (a rename rewrites the XML's name only).

    ``change`` gets the current record and returns the new one (or None: nothing to write). It may raise
    (a :class:`pvc_core.errors.Busy`, say) to refuse; it is re-run on a concurrent change.
    """
    bump = xml is not None if redefined is None else redefined
    for attempt in range(attempts):
        record, version = read(zk, uuid)
        new = change(record)
        if new is None or (new == record and xml is None):
            return record
        new = new.with_(updated_at=time.time(), revision=record.revision + (1 if bump else 0))
        data = _record_data(new)
        if xml is not None:
            limits.check_xml(xml)
        bucket, bucket_version = _bucket(zk, uuid)
        bucket[uuid] = decode(data)
        transaction = transaction_factory() if transaction_factory is not None else zk.transaction()
        transaction.set_data(paths.domain(uuid), data, version=version)
        _write_bucket(transaction, uuid, bucket, bucket_version)
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
                raise AlreadyExists(f"a VM named '{new.name}' already exists")
            transaction.delete(paths.domain_name(record.name))
            transaction.create(paths.domain_name(new.name), uuid.encode())
        try:
            zk.commit(transaction, f"update VM {record.name}")
        except (Conflict, NoNodeError):
            # another write to this VM or to a VM sharing its bucket: back off a little, then again
            time.sleep(random.uniform(0, 0.01 * (attempt + 1)))
            continue
        return new
    raise Conflict(f"VM {uuid}'s record kept changing; gave up after {attempts} attempts")


def remove(zk: ZkSession, uuid: str, attempts: int = 20) -> VmRecord:
    for attempt in range(attempts):
        try:
            return _remove(zk, uuid)
        except (Conflict, NoNodeError):
            if zk.exists(paths.domain(uuid)) is None:
                raise
            time.sleep(random.uniform(0, 0.01 * (attempt + 1)))
    raise Conflict(f"VM {uuid} kept changing while being removed; gave up after {attempts} attempts")


def _remove(zk: ZkSession, uuid: str) -> VmRecord:
    record, version = read(zk, uuid)
    bucket, bucket_version = _bucket(zk, uuid)
    bucket.pop(uuid, None)
    transaction = zk.transaction()
    _write_bucket(transaction, uuid, bucket, bucket_version)
    for child in zk.children(paths.domain(uuid)):
        transaction.delete(f"{paths.domain(uuid)}/{child}")
    transaction.delete(paths.domain(uuid), version=version)
    transaction.delete(paths.domain_name(record.name))
    if record.node and zk.exists(paths.placement(record.node, uuid)) is not None:
        transaction.delete(paths.placement(record.node, uuid))
    zk.commit(transaction, f"remove VM {record.name}")
    return record
