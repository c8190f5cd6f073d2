"""The VM record: one JSON summary znode per VM, the domain XML beside it, and the states it goes through."""

from __future__ import annotations

import enum
import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from pvc_core.errors import InvalidRequest

NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,62}$")
# a pool or a volume name: what Ceph and most storage accept, and safe in a path and in XML
VOLUME_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,127}$")
DISK_TARGET = re.compile(r"^(vd|sd|hd)[a-z]{1,2}$")
MAC_ADDRESS = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$")
NETWORK_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,62}$")
DISK_BUSES = ("virtio", "scsi", "sata", "ide")
NIC_MODELS = ("virtio", "e1000", "e1000e", "rtl8139")
# what a new VM may be called (since contract 2.3): one DNS label, the name the cluster's DNS publishes it under
DNS_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


def check_vm_name(name: str, field: str = "name") -> None:
    """Refuse a name for a new or renamed VM that is not one DNS label (VMs older than this rule keep
    theirs, but the cluster's DNS leaves such names out)."""
    if not DNS_LABEL.match(name):
        raise InvalidRequest(
            f"'{name}' is not a valid VM name: it must be a DNS label (letters, digits and '-', at most 63, "
            "not starting or ending with '-'), the name the cluster's DNS gives the VM",
            field=field,
        )


class VmState(enum.StrEnum):
    """What PVC wants of the VM (written by clients; moved on by the owning node)."""

    START = "start"
    RESTART = "restart"
    SHUTDOWN = "shutdown"
    STOP = "stop"
    DISABLE = "disable"
    MIGRATE = "migrate"
    MIGRATE_LIVE = "migrate-live"
    UNMIGRATE = "unmigrate"
    FAIL = "fail"


MIGRATING = frozenset({VmState.MIGRATE, VmState.MIGRATE_LIVE, VmState.UNMIGRATE})


class NodeSelector(enum.StrEnum):
    """How a node is chosen for a VM among those where it fits."""

    MEM = "mem"  # most free memory
    MEMPROV = "memprov"  # least memory provisioned to VMs
    LOAD = "load"  # lowest load average
    VCPUS = "vcpus"  # fewest vCPUs provisioned
    VMS = "vms"  # fewest VMs


class MigrationMethod(enum.StrEnum):
    NONE = "none"  # no preference (the default): live, falling back to shutdown + start when live fails
    LIVE = "live"  # live only: when live migration fails, the VM stays where it runs
    SHUTDOWN = "shutdown"  # always shut down here and start there


@dataclass(frozen=True)
class Operation:
    """The one operation in progress on a VM: held until the owning node settles the VM."""

    kind: str
    node: str  # the node expected to carry it out (its liveness makes the lock valid)
    started: float
    by: str = ""

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Operation | None:
        if not data:
            return None
        return cls(
            kind=str(data["kind"]), node=str(data["node"]), started=float(data["started"]), by=str(data.get("by", ""))
        )


@dataclass(frozen=True)
class VmVolume:
    """A volume the VM uses as a disk, named ``pool/volume``; a storage plugin turns it into a ``<disk>``."""

    pool: str
    volume: str
    bus: str = "virtio"
    target: str = ""  # the guest's device name (vda, sdb...); empty: the next free one for its bus

    @property
    def ref(self) -> str:
        return f"{self.pool}/{self.volume}"

    def to_dict(self) -> dict[str, Any]:
        return {"pool": self.pool, "volume": self.volume, "bus": self.bus, "target": self.target}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VmVolume:
        return cls(
            pool=str(data["pool"]),
            volume=str(data["volume"]),
            bus=str(data.get("bus", "virtio")),
            target=str(data.get("target", "")),
        )


@dataclass(frozen=True)
class VmNetwork:
    """A network the VM has an interface on, by VNI or by name; a network plugin turns it into an
    ``<interface>``."""

    network: str
    mac: str = ""  # given at define time when empty
    model: str = "virtio"

    def to_dict(self) -> dict[str, Any]:
        return {"network": self.network, "mac": self.mac, "model": self.model}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VmNetwork:
        return cls(network=str(data["network"]), mac=str(data.get("mac", "")), model=str(data.get("model", "virtio")))


@dataclass(frozen=True)
class VmRecord:
    uuid: str
    name: str
    state: str = VmState.STOP.value
    node: str = ""
    last_node: str = ""
    node_limit: tuple[str, ...] = ()
    node_selector: str | None = None
    autostart: bool = False
    migration_method: str = MigrationMethod.NONE.value
    max_downtime_ms: int = 300
    tags: tuple[str, ...] = ()
    volumes: tuple[VmVolume, ...] = ()
    networks: tuple[VmNetwork, ...] = ()
    revision: int = 0  # grows whenever the definition (XML, volumes, networks) changes
    memory_mib: int = 0
    vcpus: int = 1
    failure_reason: str = ""
    observed: str = ""  # what the hypervisor on its node last reported: running, shutoff, ...
    operation: Operation | None = None
    flushed_from: str = ""  # set when a flush moved it: node ready brings it back
    recovered_from: str = ""  # the fenced node it was last recovered from, and why
    last_migration: dict[str, Any] = field(default_factory=dict)  # seconds, downtime_ms, live
    created_at: float = 0.0
    updated_at: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        # by hand rather than dataclasses.asdict (a deep copy): listing thousands of VMs spends its time here
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        data["node_limit"] = list(self.node_limit)
        data["tags"] = list(self.tags)
        data["volumes"] = [v.to_dict() for v in self.volumes] if self.volumes else []
        data["networks"] = [n.to_dict() for n in self.networks] if self.networks else []
        data["operation"] = asdict(self.operation) if self.operation is not None else None
        data["last_migration"] = dict(self.last_migration)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VmRecord:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["node_limit"] = tuple(data.get("node_limit", ()))
        known["tags"] = tuple(data.get("tags", ()))
        volumes, networks = data.get("volumes"), data.get("networks")  # most VMs in a listing: none, so cheap
        known["volumes"] = tuple([VmVolume.from_dict(v) for v in volumes]) if volumes else ()
        known["networks"] = tuple([VmNetwork.from_dict(n) for n in networks]) if networks else ()
        known["operation"] = Operation.from_dict(data.get("operation"))
        return cls(**known)

    def with_(self, **changes: Any) -> VmRecord:
        return replace(self, **changes)

    @property
    def running_expected(self) -> bool:
        return self.state in (VmState.START, VmState.RESTART) or self.state in MIGRATING

    def definition(self) -> tuple[Any, ...]:
        """What an operator defined (not what the cluster did with it since): a change here is a modification."""
        return (
            self.node_limit,
            self.node_selector,
            self.autostart,
            self.migration_method,
            self.max_downtime_ms,
            self.tags,
            self.volumes,
            self.networks,
            self.revision,
            self.memory_mib,
            self.vcpus,
        )

    def summary(self) -> dict[str, Any]:
        """What ``vm list`` shows."""
        return {
            "name": self.name,
            "uuid": self.uuid,
            "state": self.state,
            "node": self.node,
            "last_node": self.last_node,
            "observed": self.observed,
            "memory_mib": self.memory_mib,
            "vcpus": self.vcpus,
            "tags": list(self.tags),
            "failure_reason": self.failure_reason,
            "busy": self.operation.kind if self.operation else "",
        }
