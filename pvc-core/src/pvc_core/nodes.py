"""The node record: what one znode per node holds, and the states a node goes through."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any


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
