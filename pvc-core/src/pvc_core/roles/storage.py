"""The ``storage`` role: the shared block storage VM disks live on (Ceph RBD by default).

Objects in the operator's words: a **pool** holds **volumes** (block devices, VM disks) and their
**snapshots**. Every node that runs VMs has a storage driver; the cluster-wide operations (pools,
volumes, snapshots) may be carried out from any node's driver, and the storage plugin decides which
(usually the primary's). ``attach`` runs on the node that will run a VM (inside ``pvc_vm_prepare``);
``fence_client`` runs on the primary after a confirmed power fence (inside ``pvc_node_fenced``).

Every method may block up to the driver's own timeout and is called from a worker thread, never the
dispatcher. Failures raise :class:`StorageError` (one line, the backend's reason);
:class:`pvc_core.errors.NotFound` for a pool, volume or snapshot that does not exist,
:class:`pvc_core.errors.AlreadyExists` for a name in use, :class:`pvc_core.errors.InvalidRequest` for a
request the backend refuses (a shrink without ``allow_shrink``, a pool that cannot hold a volume).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar

from pvc_core.errors import PvcError
from pvc_core.roles.base import Driver

if TYPE_CHECKING:
    from pvc_core.vms.devices import DomainDevice
    from pvc_core.vms.model import VmVolume


class StorageError(PvcError):
    """The storage backend refused or failed an action, or did not answer in time."""


@dataclass(frozen=True)
class StorageHealth:
    status: str  # ok, warn, error
    checks: tuple[str, ...] = ()  # the backend's own health messages, one line each
    total_bytes: int = 0
    used_bytes: int = 0
    available_bytes: int = 0


@dataclass(frozen=True)
class Pool:
    name: str
    replicas: int  # copies kept of every object
    min_replicas: int  # copies that must be up for I/O to go on
    pgs: int | None = None  # placement groups; None when the backend scales them itself
    application: str = "rbd"
    stored_bytes: int = 0
    used_bytes: int = 0
    available_bytes: int = 0
    objects: int = 0


@dataclass(frozen=True)
class Volume:
    pool: str
    name: str
    size_bytes: int
    used_bytes: int | None = None  # None when the backend does not say cheaply
    parent: str = ""  # "pool/volume@snapshot" for a clone

    @property
    def ref(self) -> str:
        return f"{self.pool}/{self.name}"


@dataclass(frozen=True)
class Snapshot:
    pool: str
    volume: str
    name: str
    size_bytes: int = 0
    created_at: float = 0.0
    protected: bool = False
    extra: dict[str, str] = field(default_factory=dict)


class StorageDriver(Driver):
    role: ClassVar[str] = "storage"

    # -- the cluster --------------------------------------------------------------------------------------

    @abstractmethod
    def health(self) -> StorageHealth:
        """The storage cluster's health and capacity as seen from this node."""

    # -- pools --------------------------------------------------------------------------------------------

    @abstractmethod
    def pools(self) -> list[Pool]:
        """Every pool VM volumes may live in, with its usage."""

    @abstractmethod
    def add_pool(self, name: str, replicas: int, min_replicas: int, pgs: int | None = None) -> Pool:
        """Create a pool (``pgs`` None: the backend scales placement groups itself)."""

    @abstractmethod
    def set_pool(
        self, name: str, replicas: int | None = None, min_replicas: int | None = None, pgs: int | None = None
    ) -> Pool:
        """Change a pool's replica count, minimum, or placement groups (None: unchanged)."""

    @abstractmethod
    def remove_pool(self, name: str) -> None:
        """Remove a pool and everything in it (the caller has checked that no VM uses it)."""

    # -- volumes ------------------------------------------------------------------------------------------

    @abstractmethod
    def volumes(self, pool: str | None = None) -> list[Volume]:
        """The volumes of one pool, or of every pool; sorted by pool and name."""

    @abstractmethod
    def volume(self, pool: str, name: str) -> Volume:
        """One volume; NotFound when absent."""

    @abstractmethod
    def add_volume(self, pool: str, name: str, size_bytes: int) -> Volume:
        """Create an empty volume."""

    @abstractmethod
    def resize_volume(self, pool: str, name: str, size_bytes: int, allow_shrink: bool = False) -> Volume:
        """Grow (or, with ``allow_shrink``, shrink) a volume."""

    @abstractmethod
    def rename_volume(self, pool: str, name: str, new_name: str) -> Volume:
        """Rename a volume inside its pool (the caller has checked that no VM uses it)."""

    @abstractmethod
    def clone_volume(
        self, pool: str, name: str, new_name: str, new_pool: str | None = None, snapshot: str | None = None
    ) -> Volume:
        """A new volume with the content of ``name`` (at ``snapshot`` when given), in ``new_pool`` or the same."""

    @abstractmethod
    def remove_volume(self, pool: str, name: str) -> None:
        """Remove a volume and its snapshots (the caller has checked that no VM uses it)."""

    # -- snapshots ----------------------------------------------------------------------------------------

    @abstractmethod
    def snapshots(self, pool: str, volume: str) -> list[Snapshot]:
        """A volume's snapshots, oldest first."""

    @abstractmethod
    def add_snapshot(self, pool: str, volume: str, name: str) -> Snapshot:
        """Take a snapshot of the volume as it is now."""

    @abstractmethod
    def rename_snapshot(self, pool: str, volume: str, name: str, new_name: str) -> Snapshot: ...

    @abstractmethod
    def remove_snapshot(self, pool: str, volume: str, name: str) -> None: ...

    @abstractmethod
    def rollback_snapshot(self, pool: str, volume: str, name: str) -> None:
        """Put the volume back to the snapshot (the caller has checked that its VM does not run)."""

    # -- VMs and fencing ----------------------------------------------------------------------------------

    @abstractmethod
    def attach(self, vm_uuid: str, volume: VmVolume) -> DomainDevice:
        """The ``<disk>`` that attaches ``volume`` to the VM on this node (kind ``volume``, key
        ``pool/volume``), with the secret the hypervisor needs; NotFound when the volume does not exist."""

    @abstractmethod
    def fence_client(self, node: str, volumes: Sequence[str] = ()) -> list[str]:
        """Cut the node's storage clients off for good, so that a node wrongly thought dead can never write
        again (Ceph: blocklist its addresses), and free the ``volumes`` (``pool/volume``) its VMs used for
        their next owner (Ceph: break and take the exclusive locks it held). Returns what was cut off, one
        entry per client address, for the log. Idempotent. (``volumes`` since contract 2.1.)"""

    def readmit_client(self, node: str) -> list[str]:
        """Undo :meth:`fence_client` once the operator made the node ready again (``pvc node ready``):
        its new clients may use the storage. Returns what was lifted. Idempotent. (Since contract 2.1;
        the default does nothing, for backends whose fencing needs no undoing.)"""
        return []
