"""Schema of the ZooKeeper tree: who owns what, its version, and ordered migrations.

The core owns ``/nodes``, ``/liveness``, ``/config``, ``/coordinators`` and ``/domains`` and records its
version at ``/schema/version``. Each plugin declares its own subtree and version through the
``pvc_zk_schema`` hook; its version lives at ``/schema/plugins/<owner>``. ``pvc cluster init`` writes the
core's tree; the primary coordinator creates plugin subtrees and runs pending migrations when it takes
over, so a live cluster upgrades itself once every node runs the new code.

A migration moves one owner's tree from ``to_version - 1`` to ``to_version``. It must be idempotent (it may
be re-run after a crash half-way) and is followed by a conditional version bump, so two coordinators can
never apply it twice.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pvc_core.errors import AlreadyExists, PvcError, SchemaError
from pvc_core.zk import paths
from pvc_core.zk.session import Conflict, ZkSession, decode, encode

CORE_OWNER = "core"


@dataclass(frozen=True)
class Migration:
    to_version: int
    description: str
    apply: Callable[[ZkSession], None]


@dataclass(frozen=True)
class Schema:
    """One owner's part of the tree: the persistent paths it needs, its version, its migrations."""

    owner: str
    version: int
    paths: tuple[str, ...] = ()
    migrations: tuple[Migration, ...] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        expected = list(range(2, self.version + 1))
        found = [m.to_version for m in self.migrations]
        if found != expected[len(expected) - len(found) :] or sorted(found) != found:
            raise SchemaError(
                f"schema '{self.owner}': migrations must be ordered and end at version {self.version} (got {found})"
            )

    @property
    def version_path(self) -> str:
        return paths.SCHEMA_VERSION if self.owner == CORE_OWNER else paths.plugin_schema_version(self.owner)


def _parse_version(schema: Schema, data: bytes) -> int:
    try:
        return int(data.decode())
    except ValueError as exc:
        raise SchemaError(f"{schema.version_path} holds {data!r}, not a version number") from exc


def read_version(zk: ZkSession, schema: Schema) -> int | None:
    found = zk.get(schema.version_path)
    if found is None:
        return None
    return _parse_version(schema, found[0])


def initialise(zk: ZkSession, schema: Schema) -> None:
    """Create the owner's persistent paths and record the current version (no-op parts already present)."""
    for path in schema.paths:
        zk.ensure(path)
    zk.ensure(paths.SCHEMA)
    if schema.owner != CORE_OWNER:
        zk.ensure(paths.PLUGIN_SCHEMAS)
    if zk.exists(schema.version_path) is None:
        with contextlib.suppress(AlreadyExists):  # a primary before this one (moments ago) made it too
            zk.create(schema.version_path, str(schema.version).encode())


def check_compatible(zk: ZkSession, schema: Schema) -> int | None:
    """Refuse to run against a tree newer than this code; return the stored version (None: not created)."""
    stored = read_version(zk, schema)
    if stored is not None and stored > schema.version:
        raise SchemaError(
            f"the cluster's '{schema.owner}' schema is version {stored}, newer than this software's "
            f"{schema.version}; upgrade this node's PVC packages"
        )
    return stored


def migrate(zk: ZkSession, schema: Schema) -> list[Migration]:
    """Apply every pending migration in order; return what was applied."""
    applied: list[Migration] = []
    while True:
        found = zk.get(schema.version_path)
        if found is None:
            raise SchemaError(f"'{schema.owner}' has no schema version at {schema.version_path}; run pvc cluster init")
        current, stat = _parse_version(schema, found[0]), found[1]
        if current >= schema.version:
            return applied
        step = next((m for m in schema.migrations if m.to_version == current + 1), None)
        if step is None:
            raise SchemaError(f"no migration for '{schema.owner}' from version {current} to {current + 1}")
        step.apply(zk)
        try:
            zk.set(schema.version_path, str(step.to_version).encode(), version=stat.version)
        except Conflict:
            continue  # someone else moved the version: re-read and carry on from there
        applied.append(step)


def prepare(zk: ZkSession, schemas: list[Schema], log: Any) -> None:
    """Create what is missing and apply pending migrations, for each owner; failures are logged per owner."""
    for owner_schema in schemas:
        try:
            if read_version(zk, owner_schema) is None:
                initialise(zk, owner_schema)
            else:
                for step in migrate(zk, owner_schema):
                    log.info("schema_migrated", owner=owner_schema.owner, to_version=step.to_version)
        except PvcError as exc:
            log.error("schema_upgrade_failed", owner=owner_schema.owner, error=str(exc))


# -- the core's own schema ------------------------------------------------------------------------------

_V1_NODE_FIELDS = ("daemonstate", "routerstate", "cpucount", "memtotal", "memfree", "cpuload")


def _v1_to_v2(zk: ZkSession) -> None:
    """v1 kept one znode per node field (``/nodes/NAME/daemonstate`` ...); v2 keeps one JSON summary.

    One read of ``/nodes``' data per node instead of six, which is what keeps ``pvc node list`` bounded.
    """
    for path in (paths.LIVENESS, paths.COORDINATORS, paths.DOMAINS, paths.CONFIG):
        zk.ensure(path)
    if zk.exists(paths.EPOCH) is None:
        zk.create(paths.EPOCH, b"0")
    for name in zk.children(paths.NODES):
        base = paths.node(name)
        fields = {}
        for key in _V1_NODE_FIELDS:
            found = zk.get(f"{base}/{key}")
            if found is not None:
                fields[key] = found[0].decode()
        if not fields:
            continue  # already migrated
        current = zk.get(base)
        existing = (decode(current[0]) if current else None) or {}
        summary = {
            "name": name,
            "daemon_state": fields.get("daemonstate", existing.get("daemon_state", "stop")),
            "coordinator_state": fields.get("routerstate", "client"),
            "resources": {
                "cpus": int(fields.get("cpucount", "0") or 0),
                "memory_total_mib": int(fields.get("memtotal", "0") or 0),
                "memory_free_mib": int(fields.get("memfree", "0") or 0),
                "load": float(fields.get("cpuload", "0") or 0),
            },
            "migrated_at": time.time(),
        }
        zk.set(base, encode(summary))
        for key in fields:
            zk.delete(f"{base}/{key}")


def _v2_to_v3(zk: ZkSession) -> None:
    """v3 adds the VM indexes (name -> UUID, node -> its VMs' UUIDs, the summary buckets), console requests,
    faults and fence requests."""
    for path in (
        paths.DOMAIN_NAMES,
        paths.PLACEMENT,
        paths.DOMAIN_SUMMARIES,
        paths.CONSOLE,
        paths.FAULTS,
        paths.FENCE_REQUESTS,
    ):
        zk.ensure(path)
    for path in paths.summary_buckets():
        zk.ensure(path, b"{}")


def _v3_to_v4(zk: ZkSession) -> None:
    """v4 adds the plugin calls (a client's request for a plugin's action, carried out by the primary)."""
    zk.ensure(paths.PLUGIN_CALLS)


def _v4_to_v5(zk: ZkSession) -> None:
    """v5 adds the API keys made with ``pvc api key add`` and the API's audit log."""
    zk.ensure(paths.API_KEYS)
    zk.ensure(paths.AUDIT)


def _v5_to_v6(zk: ZkSession) -> None:
    """v6 keeps secrets apart, under ``/secrets`` (on a secured cluster only the nodes' credential reads
    them): the API keys' hashes move from ``/api_keys/NAME`` to ``/secrets/api_keys/NAME``."""
    for path in (paths.SECRETS, paths.SECRET_API_KEYS, paths.SECRET_PLUGINS):
        zk.ensure(path)
    for name in zk.children(paths.API_KEYS):
        found = zk.get(paths.api_key(name))
        value = decode(found[0]) if found else None
        if not isinstance(value, dict) or "hash" not in value:
            continue  # already moved
        if zk.exists(paths.secret_api_key(name)) is None:
            zk.create(paths.secret_api_key(name), encode({"hash": value["hash"]}))
        zk.set(paths.api_key(name), encode({k: v for k, v in value.items() if k != "hash"}))


CORE_SCHEMA = Schema(
    owner=CORE_OWNER,
    version=6,
    paths=(
        paths.CONFIG,
        paths.NODES,
        paths.LIVENESS,
        paths.DOMAINS,
        paths.DOMAIN_NAMES,
        paths.PLACEMENT,
        paths.DOMAIN_SUMMARIES,
        *paths.summary_buckets(),
        paths.CONSOLE,
        paths.FAULTS,
        paths.FENCE_REQUESTS,
        paths.PLUGIN_CALLS,
        paths.COORDINATORS,
        paths.PLUGINS,
        paths.API_KEYS,
        paths.AUDIT,
        paths.SECRETS,
        paths.SECRET_API_KEYS,
        paths.SECRET_PLUGINS,
    ),
    migrations=(
        Migration(2, "one JSON summary znode per node; liveness and coordinator trees", _v1_to_v2),
        Migration(3, "VM name index and per-node placement index", _v2_to_v3),
        Migration(4, "plugin calls", _v3_to_v4),
        Migration(5, "API keys and the audit log", _v4_to_v5),
        Migration(6, "secrets apart: the API keys' hashes under /secrets", _v5_to_v6),
    ),
)


def initialise_cluster(zk: ZkSession, overwrite: bool = False) -> None:
    """Create the core tree. With ``overwrite``, delete every PVC path first (the operator confirmed it)."""
    if zk.exists(paths.SCHEMA_VERSION) is not None:
        if not overwrite:
            raise SchemaError("the cluster is already initialised; use --overwrite --yes to wipe and re-create it")
        for path in (paths.SCHEMA, *CORE_SCHEMA.paths):
            zk.delete(path, recursive=True)
    initialise(zk, CORE_SCHEMA)
    if zk.exists(paths.EPOCH) is None:
        zk.create(paths.EPOCH, b"0")
    if zk.exists(paths.MAINTENANCE) is None:
        zk.create(paths.MAINTENANCE, b"false")
