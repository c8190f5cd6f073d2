"""Node records: what one znode per node holds, the states a node goes through, and the one place they are
read, decoded and compare-and-set in ZooKeeper (the daemon, the builtins and the client all use these)."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from pvc_core.zk import paths
from pvc_core.zk.session import decode

if TYPE_CHECKING:
    from pvc_core.zk.session import ZkSession


class DaemonState(enum.StrEnum):
    """A node daemon's state. The node writes the first four; ``dead`` and ``fenced`` are written by others."""

    INIT = "init"
    RUN = "run"
    SHUTDOWN = "shutdown"
    STOP = "stop"
    DEAD = "dead"
    FENCED = "fenced"


class DomainState(enum.StrEnum):
    """A node's state as a home for VMs: ``flush`` moves them away, ``unflush`` brings them back."""

    READY = "ready"
    FLUSH = "flush"
    FLUSHED = "flushed"
    UNFLUSH = "unflush"


class CoordinatorState(enum.StrEnum):
    """A node's role in coordinator election; non-coordinators are ``client``."""

    PRIMARY = "primary"
    SECONDARY = "secondary"
    TAKEOVER = "takeover"
    RELINQUISH = "relinquish"
    CLIENT = "client"


@dataclass(frozen=True)
class PluginInfo:
    name: str
    version: str
    hooks: tuple[str, ...]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PluginInfo:
        return cls(name=str(data["name"]), version=str(data.get("version", "")), hooks=tuple(data.get("hooks", ())))


@dataclass(frozen=True)
class NodeRecord:
    """The JSON summary at ``/nodes/NAME``, written by the node itself (and by the primary for dead/fenced)."""

    name: str
    daemon_state: str = DaemonState.STOP.value
    coordinator: bool = False
    coordinator_state: str = CoordinatorState.CLIENT.value
    domain_state: str = DomainState.READY.value
    domain_state_reason: str = ""
    resources: dict[str, Any] = field(default_factory=dict)
    # what the node can attach to VMs now: kind -> key -> plugin (pvc_core.vms.attachments)
    attachments: dict[str, dict[str, str]] = field(default_factory=dict)
    pvc_version: str = ""
    plugins: tuple[PluginInfo, ...] = ()
    drivers: dict[str, Any] = field(default_factory=dict)
    state_changed_at: float = 0.0
    state_reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["plugins"] = [asdict(p) | {"hooks": list(p.hooks)} for p in self.plugins]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> NodeRecord:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["plugins"] = tuple(PluginInfo.from_dict(p) for p in data.get("plugins", ()))
        known.setdefault("name", "")
        return cls(**known)


@dataclass(frozen=True)
class NodeView:
    """A node as an operator sees it: its record plus liveness and whether it is the primary."""

    record: NodeRecord
    alive: bool
    is_primary: bool

    @property
    def name(self) -> str:
        return self.record.name

    @property
    def daemon_state(self) -> str:
        return self.record.daemon_state

    @property
    def coordinator_state(self) -> str:
        return self.record.coordinator_state

    def to_dict(self) -> dict[str, Any]:
        return self.record.to_dict() | {"alive": self.alive, "primary": self.is_primary}


def decode_record(name: str, data: bytes | dict[str, Any] | None) -> NodeRecord:
    """A node's record from its znode's data (bytes) or decoded JSON; the name from the path when absent."""
    raw = dict((decode(data) if isinstance(data, bytes) else data) or {})
    raw.setdefault("name", name)
    return NodeRecord.from_dict(raw)


def read_record(zk: ZkSession, name: str) -> tuple[NodeRecord, int] | None:
    """The node's record and its znode version, or None when it has none."""
    found = zk.get(paths.node(name))
    if found is None:
        return None
    return decode_record(name, found[0]), found[1].version


def read_views(zk: ZkSession) -> list[NodeView]:
    """Every node with its liveness and primary flag, in three round trips whatever the count."""
    names = zk.children(paths.NODES)
    alive = set(zk.children(paths.LIVENESS))
    results = zk.get_many([*[paths.node(n) for n in names], paths.PRIMARY])
    primary_found = results.pop()
    primary = (decode(primary_found[0]) or {}).get("node") if primary_found else None
    return [
        NodeView(decode_record(name, found[0]), alive=name in alive, is_primary=name == primary)
        for name, found in zip(names, results, strict=True)
        if found is not None
    ]


def update_record(
    zk: ZkSession,
    name: str,
    change: Callable[[NodeRecord], NodeRecord | None],
    transaction_factory: Callable[[], Any] | None = None,
) -> NodeRecord | None:
    """Compare-and-set the node's record; ``change`` returns None to leave it as it is.

    With ``transaction_factory`` (e.g. ``host.primary_transaction``) the write is made inside that
    transaction, so its checks (the primary epoch) hold at the moment of the write.
    """
    result: list[NodeRecord] = []  # what was stored (or found unchanged), as a record

    def on_record(data: Any) -> Any:
        record = decode_record(name, data)
        new = change(record)
        result[:] = [record if new is None or new == record else new]
        return None if new is None or new == record else new.to_dict()

    zk.update_json(paths.node(name), on_record, f"node {name}'s record", transaction_factory)
    return result[0] if result else None  # never called: the node has no record
