"""The ``ceph`` storage driver: pools, RBD volumes and snapshots through the rados/rbd bindings.

One rados connection per driver (per pvcd), opened at start with the node's ceph.conf and client key;
every monitor command and every OSD operation is bounded by ``storage_ceph.timeout`` (Ceph's own
``rados_mon_op_timeout``/``rados_osd_op_timeout``), so a cluster that does not answer is a one-line
error, never a hang. No ``ceph``/``rbd`` command is run: monitor commands go through ``mon_command``.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import functools
import json
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar
from xml.sax.saxutils import quoteattr

from pydantic import BaseModel, ConfigDict, Field

from pvc_core.config import ConfigSection
from pvc_core.errors import AlreadyExists, InvalidRequest, NotFound
from pvc_core.log import get_logger
from pvc_core.roles.storage import Pool, Snapshot, StorageDriver, StorageError, StorageHealth, Volume
from pvc_core.vms.devices import DomainDevice, DomainSecret
from pvc_core.vms.model import VOLUME_NAME
from pvc_core.zk.schema import Schema

if TYPE_CHECKING:
    from pvc_core.host import Host
    from pvc_core.vms.model import VmVolume

SECTION = "storage_ceph"
OWNER = "storage-ceph"
ROOT = f"/plugins/{OWNER}"
CLIENTS = f"{ROOT}/clients"  # each node's Ceph client addresses, for storage-side fencing
FENCED = f"{ROOT}/fenced"  # what fencing a node blocklisted, until pvc node ready lifts it
OSD_FLAGS = ("noout", "noin", "nodown", "noup", "norebalance", "norecover", "nobackfill", "noscrub", "nodeep-scrub")
QUICK_OP_SECONDS = 3.0  # an OSD operation of a failover step gives up after this, and is tried again
T = TypeVar("T")
FULL_RATIO = 0.85  # what of the others' free space an OSD's data may fill when it goes (Ceph's nearfull ratio)
BLOCKLIST_SECONDS = 10 * 365 * 86400.0  # until lifted: Ceph's default (an hour) would let a fenced node back
# libvirt keeps the client key as a secret under this UUID on every node (the same everywhere, so that a
# domain's XML is valid on any node it migrates to)
DEFAULT_SECRET_UUID = "8d1f8c9a-5c3e-4a6e-9b47-7f0c2d4a9e10"


class CephSettings(BaseModel):
    """The ``storage_ceph`` section of the node config."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    conffile: str = Field("/etc/ceph/ceph.conf", description="The Ceph cluster's config file on this node.")
    user: str = Field("admin", description="The Ceph client (without 'client.') PVC and QEMU use.")
    keyring: str = Field("", description="That client's keyring (default: what ceph.conf says).")
    timeout: float = Field(10.0, gt=0, description="Seconds a monitor command or an OSD operation may take.")
    secret_uuid: str = Field(DEFAULT_SECRET_UUID, description="The UUID of the libvirt secret holding the key.")
    refresh_interval: float = Field(
        10.0, gt=0, description="Seconds between looks at Ceph: pools offered to VMs; on the primary, status."
    )
    index_interval: float = Field(
        120.0, gt=0, description="Seconds between the primary's full looks at every volume (for the listings)."
    )
    usage_interval: float = Field(60.0, gt=0, description="Seconds between refreshes of the capacity figures.")
    offer_grace: float = Field(
        60.0, ge=0, description="Seconds the pools stay offered to VMs while Ceph does not answer this node."
    )
    osd_directory: str = Field(
        "/var/lib/pvc/ceph-osd", description="Where the OSDs PVC runs on this node keep their files."
    )
    osd_address: str = Field("", description="The address this node's OSDs listen on (default: Ceph's choice).")


def _libs() -> tuple[Any, Any]:
    try:
        import rados
        import rbd
    except ImportError as exc:  # Debian's python3-rados/python3-rbd, seen through the venv's system site
        raise StorageError(f"the ceph storage driver needs python3-rados and python3-rbd: {exc}") from exc
    return rados, rbd


def _check_name(kind: str, name: str) -> None:
    if not VOLUME_NAME.match(name):
        raise InvalidRequest(f"'{name}' is not a valid {kind} name (letters, digits, '.', '_', '-')", field=kind)


class CephStorage(StorageDriver):
    contract: ClassVar[str | None] = ">=2.0,<3"
    config_section: ClassVar[ConfigSection | None] = ConfigSection(SECTION, CephSettings)
    zk_schema: ClassVar[Schema | None] = Schema(owner=OWNER, version=1, paths=(ROOT, CLIENTS, FENCED))

    def __init__(self, host: Host, name: str) -> None:
        super().__init__(host, name)
        self.settings: CephSettings = host.config.section_or_default(SECTION, CephSettings)
        self.rados, self.rbd = _libs()
        self.log = get_logger(driver="storage-ceph", node=getattr(host, "node", None))
        self._cluster: Any = None  # the long-lived connection, made at start or, failing that, on first use
        self._connect_lock = threading.Lock()
        self._renewable = True  # this is the long-lived connection (not a failover step's own: see _renew)
        self._renewed_at = time.monotonic()
        self._renewing = False
        self._renew_lock = threading.Lock()
        self._retired: list[Any] = []  # replaced connections, shut down once nothing can still use them
        self._quick_cluster: Any = None  # made on first use (see _quick)
        self._quick_lock = threading.Lock()
        self.fence_timings: dict[str, float] = {}  # seconds into the last fence_client at each step (logged)
        try:
            _ = self.cluster
        except StorageError as exc:
            # a node must start even while Ceph does not answer (its own monitor may be starting with it):
            # every storage operation tries again, and fails with this line until Ceph answers
            self.log.warning("storage_unreachable_at_start", reason=exc.message)

    # -- the connection -----------------------------------------------------------------------------------

    def _connect(self, osd_op_timeout: float | None = None) -> Any:
        timeout = str(max(1, round(self.settings.timeout)))  # Ceph takes whole seconds here
        conf = {
            "rados_mon_op_timeout": timeout,
            "rados_osd_op_timeout": str(max(1, round(osd_op_timeout))) if osd_op_timeout else timeout,
            "client_mount_timeout": timeout,
            # a monitor that went with its node (a power cut leaves the connection silent, no reset) is left
            # for another in seconds: Ceph's defaults wait 30 s, while every command to it times out
            "mon_client_ping_interval": "1",
            "mon_client_ping_timeout": "3",
            # an operation in flight for objecter_timeout is "laggy", and only that makes the client ask the
            # monitors for a newer OSD map. Ceph's 10 s is as long as our whole operation timeout, so an
            # operation sent to an OSD that died silently (a power cut sends no reset) was abandoned before
            # it turned laggy, the next one likewise, and the connection kept the dead OSD's address for
            # minutes; at 1 s (checked every second) it learns of the OSD's replacement at once
            "objecter_timeout": "1",
            "objecter_tick_interval": "1",
        }
        if self.settings.keyring:
            conf["keyring"] = self.settings.keyring
        try:
            cluster = self.rados.Rados(conffile=self.settings.conffile, name=f"client.{self.settings.user}", conf=conf)
            cluster.connect(timeout=int(self.settings.timeout))
        except self.rados.Error as exc:
            raise StorageError(f"cannot connect to Ceph with {self.settings.conffile}: {_reason(exc)}") from exc
        return cluster

    @property
    def cluster(self) -> Any:
        """The connection this driver's operations use (connecting now if it has none yet)."""
        if self._cluster is None:
            with self._connect_lock:
                if self._cluster is None:
                    self._cluster = self._connect()
                    self._renewed_at = time.monotonic()
                    self._publish_client_addresses()
        return self._cluster

    @cluster.setter
    def cluster(self, connection: Any) -> None:
        self._cluster = connection

    def close(self) -> None:
        for cluster in (self._cluster, self._quick_cluster, *self._retired):
            with contextlib.suppress(Exception):
                cluster.shutdown()

    def _failed(self, error: StorageError) -> StorageError:
        """``error`` (to raise); when it is a timeout of the long-lived connection, renew that connection in
        the background (the failing call returns at once)."""
        if _timed_out(error) and self._renewable:
            with self._renew_lock:
                due = not self._renewing and time.monotonic() - self._renewed_at >= self.settings.timeout
                self._renewing = self._renewing or due
            if due:
                threading.Thread(target=self._renew, args=(error.message,), name="ceph-renew", daemon=True).start()
        return error

    def _renew(self, reason: str) -> None:
        """Replace the long-lived connection by a new one (at most once per ``timeout`` seconds).

        A connection whose maps went stale (the cause found: an OSD that died silently, before
        ``objecter_timeout`` was set below PVC's operation timeouts) timed out every operation for minutes
        while a new connection from the same node worked at once. Whatever wedges one next, a fresh
        connection finds the live monitors and the current maps, so a wedge costs the operations of one
        ``timeout``, not every later one. The old connection is shut down at the next renewal, not now:
        another thread may still be inside a call on it."""
        try:
            fresh = self._connect()
        except StorageError as exc:
            self.log.warning("storage_connection_not_renewed", reason=reason, error=exc.message)
            fresh = None
        with self._renew_lock:
            self._renewing, self._renewed_at = False, time.monotonic()
            if fresh is None:
                return
            old, self._cluster = self._cluster, fresh
            retired, self._retired = self._retired, [old]
        for cluster in retired:
            with contextlib.suppress(Exception):
                cluster.shutdown()
        self.log.warning("storage_connection_renewed", reason=reason)
        self._publish_client_addresses()

    def command(self, prefix: str, inbuf: bytes = b"", mgr: bool = False, **arguments: Any) -> Any:
        """One monitor command (``mgr``: one the manager answers), JSON in and out; StorageError with Ceph's
        own message on failure."""
        request = json.dumps({"prefix": prefix, "format": "json", **arguments})
        send = self.cluster.mgr_command if mgr else self.cluster.mon_command
        try:
            ret, out, message = send(request, inbuf, timeout=int(self.settings.timeout))
        except self.rados.Error as exc:
            raise self._failed(StorageError(f"ceph {prefix}: {_reason(exc)}")) from exc
        if ret == -2:
            raise NotFound(f"ceph {prefix}: {message.strip() or 'not found'}")
        if ret == -17:
            raise AlreadyExists(f"ceph {prefix}: {message.strip() or 'already exists'}")
        if ret < 0:
            raise StorageError(f"ceph {prefix} failed: {message.strip() or f'error {ret}'}")
        if not out:
            return None
        text = out.decode(errors="replace")
        try:  # the first JSON value: "osd blocklist ls" answers two arrays back to back (single, ranges)
            return json.JSONDecoder().raw_decode(text.strip())[0]
        except ValueError:  # a few commands answer plain text whatever the format asked
            return text

    @contextlib.contextmanager
    def _pool(self, pool: str) -> Iterator[Any]:
        _check_name("pool", pool)
        try:
            ioctx = self.cluster.open_ioctx(pool)
        except self.rados.ObjectNotFound:
            raise NotFound(f"no pool named '{pool}'") from None
        except self.rados.Error as exc:
            raise self._failed(StorageError(f"cannot open pool {pool}: {_reason(exc)}")) from exc
        try:
            yield ioctx
        finally:
            ioctx.close()

    @contextlib.contextmanager
    def _image(self, pool: str, name: str) -> Iterator[Any]:
        _check_name("volume", name)
        with self._pool(pool) as ioctx, self._open(ioctx, pool, name) as image:
            yield image

    @contextlib.contextmanager
    def _open(self, ioctx: Any, pool: str, name: str) -> Iterator[Any]:
        """An image of a pool already open (a listing opens its pool once, not once per volume)."""
        try:
            image = self.rbd.Image(ioctx, name)
        except self.rbd.ImageNotFound:
            raise NotFound(f"no volume {pool}/{name}") from None
        except self.rbd.Error as exc:
            raise self._failed(StorageError(f"cannot open volume {pool}/{name}: {_reason(exc)}")) from exc
        try:
            yield image
        finally:
            image.close()

    def _rbd_call(self, what: str, call: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return call(*args, **kwargs)
        except self.rbd.ImageNotFound:
            raise NotFound(f"{what}: not found") from None
        except self.rbd.ImageExists:
            raise AlreadyExists(f"{what}: the name is in use") from None
        except self.rbd.InvalidArgument as exc:
            raise InvalidRequest(f"{what}: {_reason(exc)}") from exc
        except (self.rbd.Error, self.rados.Error) as exc:
            raise self._failed(StorageError(f"{what}: {_reason(exc)}")) from exc

    # -- the cluster --------------------------------------------------------------------------------------

    def health(self) -> StorageHealth:
        status = self.command("health", detail="detail") or {}
        df = self.command("df") or {}
        checks = tuple(
            f"{name}: {check.get('summary', {}).get('message', '')}" for name, check in status.get("checks", {}).items()
        )
        state = {"HEALTH_OK": "ok", "HEALTH_WARN": "warn"}.get(status.get("status", ""), "error")
        stats = df.get("stats", {})
        return StorageHealth(
            status=state,
            checks=checks,
            total_bytes=int(stats.get("total_bytes", 0)),
            used_bytes=int(stats.get("total_used_raw_bytes", stats.get("total_used_bytes", 0))),
            available_bytes=int(stats.get("total_avail_bytes", 0)),
        )

    def status(self) -> dict[str, Any]:
        """What ``pvc storage status`` shows: health with Ceph's checks, capacity, PG states, OSD counts."""
        health = self.health()
        checks = list(health.checks)
        try:  # the manager answers these: while one takes over from a dead one, they time out
            pgs = (self.command("pg stat") or {}).get("pg_summary", {})
            osds = self.osds()
        except StorageError as exc:
            pgs, osds = {}, []
            checks.append(f"MGR_UNAVAILABLE: PG and OSD figures unavailable ({exc.message})")
        return {
            "health": health.status,
            "checks": checks,
            "total_bytes": health.total_bytes,
            "used_bytes": health.used_bytes,
            "available_bytes": health.available_bytes,
            "pgs": int(pgs.get("num_pgs", 0)),
            "pg_states": {s["name"]: int(s["num"]) for s in pgs.get("num_pg_by_state", [])},
            "osds": len(osds),
            "osds_up": sum(o["up"] for o in osds),
            "osds_in": sum(o["in"] for o in osds),
            "flags": self.flags(),
        }

    # -- OSDs ---------------------------------------------------------------------------------------------

    def osds(self) -> list[dict[str, Any]]:
        """Every OSD: id, node (its CRUSH host), up, in, weight, size and use."""
        tree = self.command("osd tree") or {}
        hosts = {child: n["name"] for n in tree.get("nodes", []) if n.get("type") == "host" for child in n["children"]}
        usage = {int(n["id"]): n for n in (self.command("osd df") or {}).get("nodes", [])}
        dump = {int(o["osd"]): o for o in (self.command("osd dump") or {}).get("osds", [])}
        found = []
        for osd_id, state in sorted(dump.items()):
            use = usage.get(osd_id, {})
            found.append(
                {
                    "id": osd_id,
                    "node": hosts.get(osd_id, ""),
                    "up": bool(state.get("up")),
                    "in": bool(state.get("in")),
                    "weight": float(use.get("crush_weight", 0.0)),
                    "reweight": float(state.get("weight", 0.0)),
                    "size_bytes": int(use.get("kb", 0)) * 1024,
                    "used_bytes": int(use.get("kb_used", 0)) * 1024,
                    "pgs": int(use.get("pgs", 0)),
                }
            )
        return found

    def _osd(self, osd_id: int) -> dict[str, Any]:
        for osd in self.osds():
            if osd["id"] == osd_id:
                return osd
        raise NotFound(f"no OSD osd.{osd_id}")

    def set_osds_in(self, ids: Sequence[int], take_in: bool) -> None:
        """Mark OSDs in (they take data) or out (their data moves to the others)."""
        for osd_id in ids:
            self._osd(osd_id)
        self.command("osd in" if take_in else "osd out", ids=[str(i) for i in ids])

    def flags(self) -> list[str]:
        """The cluster's OSD flags that an operator sets (noout, noin, norebalance...)."""
        flags = str((self.command("osd dump") or {}).get("flags", ""))
        internal = {"sortbitwise", "recovery_deletes", "purged_snapdirs", "pglog_hardlimit"}
        return [f for f in flags.split(",") if f and f not in internal]

    def set_flag(self, flag: str, on: bool) -> list[str]:
        if flag not in OSD_FLAGS:
            raise InvalidRequest(f"'{flag}' is not an OSD flag ({', '.join(OSD_FLAGS)})", field="flag")
        self.command("osd set" if on else "osd unset", key=flag)
        return self.flags()

    def removal_refusal(self, osd_id: int) -> str | None:
        """Why the cluster cannot hold osd.N's data without it (None: it can)."""
        osds = self.osds()
        target = next((o for o in osds if o["id"] == osd_id), None)
        if target is None:
            raise NotFound(f"no OSD osd.{osd_id}")
        others = [o for o in osds if o["id"] != osd_id and o["up"] and o["in"]]
        nodes = {o["node"] for o in others}
        for pool in self.pools():
            if pool.replicas > len(nodes):
                return (
                    f"pool {pool.name} keeps {pool.replicas} copies on different nodes, and without osd.{osd_id} "
                    f"only {len(nodes)} node(s) have OSDs up and in"
                )
        room = sum(o["size_bytes"] - o["used_bytes"] for o in others) * FULL_RATIO
        if target["used_bytes"] > room:
            return (
                f"osd.{osd_id} holds {target['used_bytes']} bytes, more than the other OSDs have room for ({int(room)})"
            )
        return None

    def remove_osd(self, osd_id: int) -> None:
        """Take osd.N out of the cluster for good (out, down, then purged: CRUSH, auth, OSD map); the caller
        has checked :meth:`removal_refusal` and stopped its daemon first."""
        self._osd(osd_id)
        self.command("osd out", ids=[str(osd_id)])
        self.command("osd down", ids=[str(osd_id)])
        self.command("osd purge", mgr=True, id=osd_id, yes_i_really_mean_it=True)

    # -- pools --------------------------------------------------------------------------------------------

    def pools(self) -> list[Pool]:
        details = self.command("osd pool ls", detail="detail") or []
        usage = {p["name"]: p.get("stats", {}) for p in (self.command("df") or {}).get("pools", [])}
        found = []
        for pool in details:
            name = pool["pool_name"]
            if "rbd" not in pool.get("application_metadata", {}):
                continue  # Ceph's own pools (device_health_metrics ...) hold no VM volumes
            stats = usage.get(name, {})
            autoscale = pool.get("pg_autoscale_mode") == "on"
            found.append(
                Pool(
                    name=name,
                    replicas=int(pool.get("size", 0)),
                    min_replicas=int(pool.get("min_size", 0)),
                    pgs=None if autoscale else int(pool.get("pg_num_target", pool.get("pg_num", 0))),
                    stored_bytes=int(stats.get("stored", 0)),
                    used_bytes=int(stats.get("bytes_used", 0)),
                    available_bytes=int(stats.get("max_avail", 0)),
                    objects=int(stats.get("objects", 0)),
                )
            )
        return sorted(found, key=lambda p: p.name)

    def _pool_info(self, name: str) -> Pool:
        for pool in self.pools():
            if pool.name == name:
                return pool
        raise NotFound(f"no pool named '{name}'")

    def add_pool(self, name: str, replicas: int, min_replicas: int, pgs: int | None = None) -> Pool:
        _check_name("pool", name)
        if self.cluster.pool_exists(name):
            raise AlreadyExists(f"a pool named '{name}' already exists")
        if not 1 <= min_replicas <= replicas:
            raise InvalidRequest(f"min replicas {min_replicas} must be between 1 and replicas {replicas}")
        self.command("osd pool create", pool=name, pg_num=pgs or 8, pg_num_min=1)
        self.command("osd pool set", pool=name, var="pg_autoscale_mode", val="off" if pgs else "on")
        self.command("osd pool set", pool=name, var="size", val=str(replicas), yes_i_really_mean_it=True)
        self.command("osd pool set", pool=name, var="min_size", val=str(min_replicas))
        self.command("osd pool application enable", pool=name, app="rbd")
        return self._pool_info(name)

    def set_pool(
        self, name: str, replicas: int | None = None, min_replicas: int | None = None, pgs: int | None = None
    ) -> Pool:
        self._pool_info(name)
        if replicas is not None:
            self.command("osd pool set", pool=name, var="size", val=str(replicas), yes_i_really_mean_it=True)
        if min_replicas is not None:
            self.command("osd pool set", pool=name, var="min_size", val=str(min_replicas))
        if pgs is not None:
            self.command("osd pool set", pool=name, var="pg_autoscale_mode", val="off")
            self.command("osd pool set", pool=name, var="pg_num", val=str(pgs))
        return self._pool_info(name)

    def remove_pool(self, name: str) -> None:
        _check_name("pool", name)
        if not self.cluster.pool_exists(name):
            return
        self.command("osd pool rm", pool=name, pool2=name, yes_i_really_really_mean_it=True)

    # -- volumes ------------------------------------------------------------------------------------------

    def _volume(self, pool: str, image: Any, name: str) -> Volume:
        parent = ""
        with contextlib.suppress(self.rbd.ImageNotFound):
            parent_pool, parent_name, parent_snap = image.parent_info()
            parent = f"{parent_pool}/{parent_name}@{parent_snap}"
        return Volume(pool=pool, name=name, size_bytes=int(image.size()), parent=parent)

    def volumes(self, pool: str | None = None) -> list[Volume]:
        names = [pool] if pool is not None else [p.name for p in self.pools()]
        found = []
        for each in names:
            with self._pool(each) as ioctx:
                for name in sorted(self._rbd_call(f"list volumes of {each}", self.rbd.RBD().list, ioctx)):
                    with self._open(ioctx, each, name) as image:
                        found.append(self._volume(each, image, name))
        return found

    def volume(self, pool: str, name: str) -> Volume:
        with self._image(pool, name) as image:
            return self._volume(pool, image, name)

    def add_volume(self, pool: str, name: str, size_bytes: int) -> Volume:
        _check_name("volume", name)
        if size_bytes < 1:
            raise InvalidRequest(f"a volume's size must be positive, not {size_bytes}", field="size")
        with self._pool(pool) as ioctx:
            self._rbd_call(
                f"create volume {pool}/{name}", self.rbd.RBD().create, ioctx, name, size_bytes, old_format=False
            )
        return self.volume(pool, name)

    def resize_volume(self, pool: str, name: str, size_bytes: int, allow_shrink: bool = False) -> Volume:
        if size_bytes < 1:
            raise InvalidRequest(f"a volume's size must be positive, not {size_bytes}", field="size")
        with self._image(pool, name) as image:
            if size_bytes < image.size() and not allow_shrink:
                raise InvalidRequest(f"shrinking {pool}/{name} loses data; confirm it (--yes) to shrink")
            self._rbd_call(f"resize volume {pool}/{name}", image.resize, size_bytes)
        return self.volume(pool, name)

    def rename_volume(self, pool: str, name: str, new_name: str) -> Volume:
        _check_name("volume", name)
        _check_name("volume", new_name)
        with self._pool(pool) as ioctx:
            self._rbd_call(f"rename volume {pool}/{name}", self.rbd.RBD().rename, ioctx, name, new_name)
        return self.volume(pool, new_name)

    def clone_volume(
        self, pool: str, name: str, new_name: str, new_pool: str | None = None, snapshot: str | None = None
    ) -> Volume:
        target_pool = new_pool or pool
        _check_name("volume", new_name)
        base = snapshot or f"clone-{new_name}"
        with self._image(pool, name) as image:
            if snapshot is None:
                self._rbd_call(f"snapshot {pool}/{name}", image.create_snap, base)
            if not image.is_protected_snap(base):
                self._rbd_call(f"protect {pool}/{name}@{base}", image.protect_snap, base)
        with self._pool(pool) as source, self._pool(target_pool) as target:
            self._rbd_call(
                f"clone {pool}/{name}@{base} to {target_pool}/{new_name}",
                self.rbd.RBD().clone,
                source,
                name,
                base,
                target,
                new_name,
            )
        return self.volume(target_pool, new_name)

    def remove_volume(self, pool: str, name: str) -> None:
        with self._image(pool, name) as image:
            for snap in list(image.list_snaps()):
                if image.is_protected_snap(snap["name"]):
                    self._rbd_call(f"unprotect {pool}/{name}@{snap['name']}", image.unprotect_snap, snap["name"])
                self._rbd_call(f"remove snapshot {pool}/{name}@{snap['name']}", image.remove_snap, snap["name"])
        with self._pool(pool) as ioctx:
            self._rbd_call(f"remove volume {pool}/{name}", self.rbd.RBD().remove, ioctx, name)

    def write_volume(self, pool: str, name: str, offset: int, data: bytes) -> None:
        """Write ``data`` into the volume at ``offset`` (an upload's piece)."""
        with self._image(pool, name) as image:
            if offset + len(data) > image.size():
                raise InvalidRequest(f"writing {len(data)} bytes at {offset} goes past the end of {pool}/{name}")
            self._rbd_call(f"write to {pool}/{name}", image.write, data, offset)

    def read_volume(self, pool: str, name: str, offset: int, length: int) -> bytes:
        """Up to ``length`` bytes of the volume from ``offset`` (less at its end)."""
        with self._image(pool, name) as image:
            length = max(0, min(length, image.size() - offset))
            data: bytes = self._rbd_call(f"read {pool}/{name}", image.read, offset, length) if length else b""
            return data

    # -- snapshots ----------------------------------------------------------------------------------------

    def snapshots(self, pool: str, volume: str) -> list[Snapshot]:
        with self._image(pool, volume) as image:
            found = []
            for snap in image.list_snaps():
                created = 0.0
                with contextlib.suppress(Exception):
                    created = image.get_snap_timestamp(snap["id"]).timestamp()
                protected = bool(image.is_protected_snap(snap["name"]))
                found.append(
                    Snapshot(pool, volume, snap["name"], int(snap.get("size", 0)), created, protected=protected)
                )
            return sorted(found, key=lambda s: (s.created_at, s.name))

    def add_snapshot(self, pool: str, volume: str, name: str) -> Snapshot:
        _check_name("snapshot", name)
        with self._image(pool, volume) as image:
            self._rbd_call(f"snapshot {pool}/{volume}@{name}", image.create_snap, name)
        return next(s for s in self.snapshots(pool, volume) if s.name == name)

    def rename_snapshot(self, pool: str, volume: str, name: str, new_name: str) -> Snapshot:
        _check_name("snapshot", new_name)
        with self._image(pool, volume) as image:
            self._rbd_call(f"rename snapshot {pool}/{volume}@{name}", image.rename_snap, name, new_name)
        return next(s for s in self.snapshots(pool, volume) if s.name == new_name)

    def remove_snapshot(self, pool: str, volume: str, name: str) -> None:
        with self._image(pool, volume) as image:
            if name not in {snap["name"] for snap in image.list_snaps()}:
                raise NotFound(f"no snapshot {pool}/{volume}@{name}")
            if image.is_protected_snap(name):
                self._rbd_call(f"unprotect {pool}/{volume}@{name}", image.unprotect_snap, name)
            self._rbd_call(f"remove snapshot {pool}/{volume}@{name}", image.remove_snap, name)

    def rollback_snapshot(self, pool: str, volume: str, name: str) -> None:
        with self._image(pool, volume) as image:
            self._rbd_call(f"roll {pool}/{volume} back to {name}", image.rollback_to_snap, name)

    # -- VMs and fencing ----------------------------------------------------------------------------------

    def _monitors(self) -> list[tuple[str, str]]:
        dump = self.command("mon dump") or {}
        hosts = []
        for mon in dump.get("mons", []):
            for addr in mon.get("public_addrs", {}).get("addrvec", []):
                if addr.get("type") == "v1":
                    host, _, port = str(addr["addr"]).rpartition(":")
                    hosts.append((host, port))
        return hosts

    def _quick(self) -> CephStorage:
        """This driver over a second connection whose OSD operations give up after ``QUICK_OP_SECONDS``, for
        the steps of a failover (fence, prepare elsewhere), which retry them (:meth:`_patiently`): an
        operation sent just as a node died can hang on it for the whole timeout, and the retry, sent once
        Ceph marked the node's OSDs down, goes through in milliseconds."""
        with self._quick_lock:
            if self._quick_cluster is None:
                self._quick_cluster = self._connect(osd_op_timeout=QUICK_OP_SECONDS)
        quick = copy.copy(self)
        quick.cluster, quick._renewable = self._quick_cluster, False  # its timeouts are expected: it retries
        return quick

    def _patiently(self, call: Callable[[], T]) -> T:
        """``call()``, again while it times out, for up to twice ``timeout`` seconds in all (Ceph re-peers
        the dead node's placement groups meanwhile; a node's monitor lost with it may take an election)."""
        deadline = time.monotonic() + 2 * self.settings.timeout
        while True:
            try:
                return call()
            except StorageError as exc:
                if not _timed_out(exc) or time.monotonic() > deadline:
                    raise
            time.sleep(0.2)

    def attach(self, vm_uuid: str, volume: VmVolume) -> DomainDevice:
        quick = self._quick()
        quick._patiently(lambda: quick.volume(volume.pool, volume.volume))  # NotFound when it does not exist
        key = (self.command("auth get-key", entity=f"client.{self.settings.user}") or {}).get("key", "")
        hosts = "".join(f"<host name={quoteattr(h)} port={quoteattr(p)}/>" for h, p in self._monitors())
        xml = (
            "<disk type='network' device='disk'>"
            "<driver name='qemu' type='raw' cache='none' discard='unmap'/>"
            f"<auth username={quoteattr(self.settings.user)}>"
            f"<secret type='ceph' uuid={quoteattr(self.settings.secret_uuid)}/></auth>"
            f"<source protocol='rbd' name={quoteattr(volume.ref)}>{hosts}</source>"
            f"<target dev={quoteattr(volume.target)} bus={quoteattr(volume.bus)}/>"
            "</disk>"
        )
        secret = DomainSecret(
            uuid=self.settings.secret_uuid,
            usage="ceph",
            name=f"client.{self.settings.user} secret",
            value=base64.b64decode(key) if key else b"",
        )
        return DomainDevice(xml=xml, kind="volume", key=volume.ref, secret=secret)

    def _publish_client_addresses(self) -> None:
        """Record this node's client addresses, which the primary blocklists when this node is fenced."""
        zk = getattr(self.host, "zk", None)
        node = getattr(self.host, "node", None)
        if zk is None or node is None:
            return
        addrs = client_addresses(str(self.cluster.get_addrs()))
        with contextlib.suppress(Exception):  # best effort: fencing then blocklists what the locks show
            zk.put(f"{CLIENTS}/{node}", json.dumps({"addrs": addrs}).encode())

    def _recorded_addresses(self) -> dict[str, list[str]]:
        zk = self.host.zk
        names = zk.children(CLIENTS)
        found = zk.get_many([f"{CLIENTS}/{n}" for n in names])
        return {
            n: [str(a) for a in (json.loads(f[0]) or {}).get("addrs", [])] if f and f[0] else []
            for n, f in zip(names, found, strict=True)
        }

    def _blocklist(self, addr: str, add: bool) -> None:
        arguments: dict[str, Any] = {"blocklistop": "add" if add else "rm", "addr": addr}
        if add:
            arguments["expire"] = BLOCKLIST_SECONDS
        with contextlib.suppress(NotFound):  # removing what is not there
            self.command("osd blocklist", **arguments)

    def fence_client(self, node: str, volumes: Sequence[str] = ()) -> list[str]:
        """Blocklist ``node``'s Ceph clients, then break and take the exclusive locks it held on ``volumes``.

        Blocklisted: the whole address of the node (``IP:0/0``: every client it runs, QEMU's included)
        when no other node shares that address, else only the client instances it recorded; and every
        instance that holds the lock of one of ``volumes`` from the node's address. Each lock is then
        broken and taken once (acquired and released), which proves nobody else holds it. Returns what
        was blocklisted; idempotent.

        Done over a connection of its own, made for it: the node that died may have taken the monitor
        this driver's connection talks to, and a power cut leaves that connection silent (no reset) for
        up to Ceph's ping timeout, with stale maps meanwhile; a new connection finds a live monitor and the
        current maps at once."""
        fencer = copy.copy(self)
        fencer.cluster, fencer._renewable = self._connect(osd_op_timeout=QUICK_OP_SECONDS), False
        try:
            blocked = fencer._fence(node, volumes)
        finally:
            with contextlib.suppress(Exception):
                fencer.cluster.shutdown()
        self.fence_timings = fencer.fence_timings
        return blocked

    def _fence(self, node: str, volumes: Sequence[str]) -> list[str]:
        # the node is off (its power fence is confirmed): its OSDs are down now, and saying so spares every
        # client Ceph's heartbeat grace (20 s) of I/O waiting on them
        started = time.monotonic()
        down = self._osds_on(node)
        if down:
            self.command("osd down", ids=[str(i) for i in down])
            # a client fetches OSD maps only when it must: this connection's map still has those OSDs up,
            # and its I/O would go to them until an operation turned laggy. A new connection starts from the
            # map the command above committed (tens of milliseconds).
            stale, self.cluster = self.cluster, self._connect(osd_op_timeout=QUICK_OP_SECONDS)
            with contextlib.suppress(Exception):
                stale.shutdown()
        self.fence_timings = {"osds_down": round(time.monotonic() - started, 3)}
        recorded = self._recorded_addresses()
        own = recorded.get(node, [])
        ips = {address_ip(a) for a in own}
        shared = {address_ip(a) for other, addrs in recorded.items() if other != node for a in addrs}
        blocked = [f"{ip}:0/0" for ip in sorted(ips - shared)] + [a for a in own if address_ip(a) in shared]
        owners: list[tuple[str, Any]] = []
        for ref in volumes:
            for owner in self._patiently(functools.partial(self._lock_owners, ref)):
                address = str(owner["owner"])
                if address_ip(address) in ips or not ips:  # unknown node addresses: its VMs' lockers are its
                    owners.append((ref, owner))
                    if address not in blocked and f"{address_ip(address)}:0/0" not in blocked:
                        blocked.append(address)
        self.fence_timings["lock_owners"] = round(time.monotonic() - started, 3)
        for addr in blocked:
            self._blocklist(addr, add=True)
        self.fence_timings["blocklisted"] = round(time.monotonic() - started, 3)
        for ref, owner in owners:
            self._patiently(functools.partial(self._take_lock, node, ref, owner))
        self.fence_timings["locks_taken"] = round(time.monotonic() - started, 3)
        self._record_fence(node, blocked)
        return blocked

    def _lock_owners(self, ref: str) -> list[dict[str, Any]]:
        pool, _, name = ref.partition("/")
        with self._image(pool, name) as image:
            owners: list[dict[str, Any]] = self._rbd_call(
                f"lock owners of {ref}", lambda: list(image.lock_get_owners())
            )
            return owners

    def _take_lock(self, node: str, ref: str, owner: dict[str, Any]) -> None:
        """Break ``node``'s lock on ``ref`` (gone already: fine, a retry), then take it once and let it go."""
        pool, _, name = ref.partition("/")
        with self._image(pool, name) as image:
            with contextlib.suppress(NotFound):
                self._rbd_call(f"break {node}'s lock on {ref}", image.lock_break, owner["mode"], owner["owner"])
            self._rbd_call(f"take the lock on {ref}", image.lock_acquire, self.rbd.RBD_LOCK_MODE_EXCLUSIVE)
            self._rbd_call(f"release the lock on {ref}", image.lock_release)

    def _osds_on(self, node: str) -> list[int]:
        """The OSDs up on ``node`` (its CRUSH host), from the monitors alone (the manager may be down too)."""
        tree = self.command("osd tree") or {}
        return sorted(
            int(child)
            for n in tree.get("nodes", [])
            if n.get("type") == "host" and n.get("name") == node
            for child in n.get("children", [])
            if any(o.get("id") == child and o.get("status") == "up" for o in tree.get("nodes", []))
        )

    def _record_fence(self, node: str, blocked: list[str]) -> None:
        zk = self.host.zk
        path = f"{FENCED}/{node}"
        previous = zk.get_json(path) or {}
        merged = sorted(set(previous.get("blocklisted", [])) | set(blocked))
        zk.put(path, json.dumps({"blocklisted": merged}).encode())

    def fenced_clients(self, node: str) -> list[str]:
        """What fencing ``node`` blocklisted and nothing lifted yet (empty: it is not cut off)."""
        return [str(a) for a in (self.host.zk.get_json(f"{FENCED}/{node}") or {}).get("blocklisted", [])]

    def readmit_client(self, node: str) -> list[str]:
        """Lift what fencing ``node`` blocklisted; returns what was lifted. Idempotent."""
        lifted = self.fenced_clients(node)
        for addr in lifted:
            self._blocklist(addr, add=False)
        self.host.zk.delete(f"{FENCED}/{node}")
        return lifted

    def blocklist(self) -> list[str]:
        """Every client address Ceph blocklists now."""
        return [str(entry.get("addr", "")) for entry in self.command("osd blocklist ls") or []]


def address_ip(addr: str) -> str:
    """``10.0.0.1`` of ``10.0.0.1:0/123`` (``[::1]:0/1`` gives ``::1``)."""
    host = addr.rsplit("/", 1)[0].rsplit(":", 1)[0]
    return host.strip("[]")


def client_addresses(addrs: str) -> list[str]:
    """The addresses in librados' ``get_addrs()`` form (``[v2:10.0.0.1:0/123,v1:10.0.0.1:0/123]``), without
    their protocol prefix, as ``blocklist_add`` takes them."""
    found = []
    for part in addrs.strip("[] ").split(","):
        addr = part.strip().removeprefix("v2:").removeprefix("v1:").removeprefix("any:")
        if addr and addr not in found:
            found.append(addr)
    return found


def _timed_out(exc: StorageError) -> bool:
    message = exc.message.lower()
    return "timed out" in message or "timeout" in message or "errno 110" in message


def _reason(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__
