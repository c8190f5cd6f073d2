"""The ``compute`` role: the hypervisor on this node (libvirt/QEMU by default).

The hypervisor-agnostic part of VMs (records, states, placement, locking, flush) lives in the core; a
compute driver only starts, stops, migrates and observes domains on its own node. Every method may block up
to its timeout and raises :class:`ComputeError` with the hypervisor's reason on failure.

Threads (never the dispatcher): the VM manager calls the domain methods (``domains``, ``state``, ``start``,
``shutdown``, ``destroy``, ``migrate``) from its worker threads, several at once; ``resources`` runs on
pvcd's main thread (at registration and at every keepalive, so keep it quick); ``console`` runs on a thread
of its own per console request, alongside the workers; and the fence monitor's self-fence thread calls
``domains`` and ``destroy`` when this node has been cut off from ZooKeeper for too long.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from pvc_core.errors import PvcError
from pvc_core.roles.base import Driver

if TYPE_CHECKING:
    from pvc_core.vms.devices import DomainSecret


# The domain states (as ``domains()`` and ``state()`` report them) in which a guest runs, or holds its
# memory and may run again at any moment: PVC treats a VM in any of them as running on that node.
RUNNING_STATES = frozenset({"running", "paused", "blocked", "pmsuspended"})


class ComputeError(PvcError):
    """The hypervisor refused or failed an action; the message is its reason, in one line."""


@dataclass(frozen=True)
class ConsoleChunk:
    lines: list[str]
    offset: int  # where the next read starts (a byte offset in the console log)


@dataclass(frozen=True)
class MigrationResult:
    seconds: float  # wall time of the migration call
    downtime_ms: float | None  # what the hypervisor reports, when it does


class ComputeDriver(Driver):
    role: ClassVar[str] = "compute"

    @abstractmethod
    def resources(self) -> dict[str, Any]:
        """What this hypervisor offers: ``cpus``, ``memory_total_mib``, ``memory_free_mib``, and
        ``migration_uri`` (how other nodes' drivers reach this one for migration; may be empty)."""

    @abstractmethod
    def domains(self) -> dict[str, str]:
        """Every domain this hypervisor knows, by UUID: ``running``, ``paused``, ``shutoff``, ``crashed``..."""

    @abstractmethod
    def state(self, uuid: str) -> str:
        """One domain's state, or ``absent`` when the hypervisor does not know it."""

    @abstractmethod
    def start(self, uuid: str, xml: str) -> None:
        """Start the domain from ``xml`` (already running: nothing to do)."""

    @abstractmethod
    def shutdown(self, uuid: str, timeout: float) -> bool:
        """Ask the guest to power off (ACPI) and wait up to ``timeout``; True when it stopped. Never forces."""

    @abstractmethod
    def destroy(self, uuid: str) -> None:
        """Power the domain off at once (absent or already off: nothing to do)."""

    @property
    @abstractmethod
    def live_migration(self) -> bool:
        """Whether this hypervisor can migrate a running domain to another node's."""

    @abstractmethod
    def migrate(
        self, uuid: str, target_uri: str, max_downtime_ms: int, timeout: float, xml: str | None = None
    ) -> MigrationResult:
        """Live-migrate the running domain to the hypervisor at ``target_uri`` (peer to peer).

        ``xml``, when given, is the domain as the destination prepared it (its devices from
        ``pvc_vm_prepare`` on that node): the destination runs that definition. None: the running one."""

    def define_secrets(self, secrets: Sequence[DomainSecret]) -> None:
        """Make the hypervisor hold ``secrets`` (by UUID; defining one again replaces its value) before a
        domain that refers to them starts or migrates in. A hypervisor without secrets refuses any."""
        if secrets:
            raise ComputeError(f"the {self.name} compute driver cannot hold secrets (asked for {secrets[0].name})")

    def attach_device(self, uuid: str, xml: str) -> None:
        """Add the device ``xml`` (an ``<interface>``...) to the running domain, live (since 2.2). A hypervisor
        that cannot raises ComputeError saying so (the default); the device then comes at the next start."""
        raise ComputeError(f"the {self.name} compute driver cannot add devices to a running VM")

    def detach_device(self, uuid: str, xml: str) -> None:
        """Remove the device ``xml`` describes (an ``<interface>`` by its MAC address) from the running
        domain, live (since 2.2); the guest may take a moment to let it go. Default: ComputeError."""
        raise ComputeError(f"the {self.name} compute driver cannot remove devices from a running VM")

    @abstractmethod
    def console(self, uuid: str, lines: int, offset: int | None = None) -> ConsoleChunk:
        """The domain's serial console: the last ``lines`` lines (``offset`` None), or what was written since
        ``offset`` (at most ``lines`` lines). Empty when the domain has no console log here."""

    @abstractmethod
    def stats(self, uuid: str) -> dict[str, Any]:
        """Per-domain figures: ``cpu_seconds``, ``memory_mib``, ... (empty when not running)."""
