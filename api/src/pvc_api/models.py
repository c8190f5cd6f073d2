"""Request and response bodies of the API (pydantic): validation and the OpenAPI schemas in one place."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Error(BaseModel):
    error: str = Field(description="the kind of error, stable for clients: not_found, invalid_request, busy...")
    message: str
    field: str | None = None
    request_id: str | None = None


class Version(BaseModel):
    name: str
    api: str
    version: str


class Task(BaseModel):
    id: str
    kind: str
    target: str
    status: Literal["running", "succeeded", "failed"]
    result: Any = None
    error: str | None = None
    created: float
    finished: float | None = None
    url: str


class Node(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    daemon_state: str
    coordinator_state: str
    domain_state: str
    alive: bool
    primary: bool
    resources: dict[str, Any]


class Vm(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    uuid: str
    state: str
    node: str
    memory_mib: int
    vcpus: int
    tags: list[str]


class ClusterStatus(BaseModel):
    model_config = ConfigDict(extra="allow")
    healthy: bool
    primary: str | None
    primary_epoch: int
    nodes: int
    maintenance: bool
    faults: list[dict[str, Any]]


class ApiPlugin(BaseModel):
    version: str
    hooks: list[str]
    routes: list[str] = Field(description="URL prefixes of the routes it contributes")


class Plugin(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    version: str
    hooks: list[str] = Field(description="Hooks it implements on the nodes")
    nodes: list[str] = Field(description="Nodes that loaded it")
    api: ApiPlugin | None = Field(None, description="What pvcapid loaded of it, when it did")


class Wait(Body):
    wait: bool = Field(False, description="Answer when the operation is done (else 202 with a task).")
    timeout: float = Field(300.0, gt=0, le=3600)


class Maintenance(Body):
    on: bool


class VmVolume(Body):
    pool: str
    volume: str
    bus: Literal["virtio", "scsi", "sata", "ide"] = "virtio"
    target: str = Field("", description="vda, sdb...; empty: the next free one for its bus")


class VmNetwork(Body):
    network: str = Field(description="The network's VNI or name")
    mac: str = Field("", description="empty: one is made up")
    model: Literal["virtio", "e1000", "e1000e", "rtl8139"] = "virtio"


TAGS = "at most 32 tags, each 1-64 letters, digits and _.:@+=/-"


class VmDefine(Body):
    xml: str = Field(description="libvirt domain XML, at most 256 KiB")
    target: str | None = None
    limit: list[str] = Field(default_factory=list)
    node_selector: Literal["mem", "memprov", "load", "vcpus", "vms"] | None = None
    autostart: bool = False
    migration_method: Literal["none", "live", "shutdown"] = "none"
    max_downtime: int = Field(300, ge=1)
    tags: list[str] = Field(default_factory=list, description=TAGS)
    volumes: list[VmVolume] = Field(default_factory=list, description="Disks: volumes some node's plugins offer")
    networks: list[VmNetwork] = Field(default_factory=list, description="Interfaces: networks some node offers")


class VmAttach(Body):
    volumes: list[VmVolume] | None = Field(None, description="The VM's volumes from now on (null: unchanged)")
    networks: list[VmNetwork] | None = Field(None, description="The VM's networks from now on (null: unchanged)")


class VmModify(Wait):
    xml: str = Field(description="libvirt domain XML, at most 256 KiB")
    restart: bool = False


class VmMeta(Body):
    limit: list[str] | None = None
    node_selector: Literal["mem", "memprov", "load", "vcpus", "vms", ""] | None = None
    autostart: bool | None = None
    migration_method: Literal["none", "live", "shutdown"] | None = None
    max_downtime: int | None = Field(None, ge=1)


class VmRename(Body):
    new_name: str


class VmTags(Body):
    add: list[str] = Field(default_factory=list, description=f"Tags to add (the VM keeps {TAGS})")
    remove: list[str] = Field(default_factory=list)


class VmState(Wait):
    state: Literal["start", "shutdown", "stop", "restart", "disable"]
    target: str | None = None


class VmMigrate(Wait):
    target: str | None = None


class VmFilter(Body):
    node: str | None = None
    state: str | None = None
    tag: str | None = None


class LogQuery(Body):
    lines: int = Field(50, ge=1, le=10000)


class Log(BaseModel):
    lines: list[str]


class PluginValue(Body):
    value: Any = Field(description="Any JSON value (stored as compact JSON, at most 512 KiB).")


class PluginData(BaseModel):
    plugin: str
    key: str = Field(description="Relative to the plugin's data: status, volumes/vol1")
    value: Any = Field(description="The JSON value stored at the key")


class PluginDataDeleted(BaseModel):
    plugin: str
    key: str
    deleted: bool


class PluginCall(Body):
    args: dict[str, Any] = Field(default_factory=dict, description="The action's arguments (the plugin documents them)")
    timeout: float = Field(30.0, gt=0, le=3600, description="Seconds to wait for the primary's answer")


class PluginCallResult(BaseModel):
    plugin: str
    action: str
    result: Any = Field(description="What the action answered (the plugin documents it)")


class PluginDataQuery(Body):
    key: str = Field("", description="List the keys under this one; empty for the plugin's top-level keys.")


class ApiKeyAdd(Body):
    name: str = Field(description="Who holds the key: lower-case letters, digits, '.', '_', '-' (1-63)")
    role: Literal["read", "operator", "admin"] = Field(
        description="read: GET only; operator: also VM and node actions; admin: everything, keys included"
    )


class ApiKey(BaseModel):
    name: str
    role: str
    created_at: float
    created_by: str


class ApiKeyMade(ApiKey):
    key: str = Field(description="The key itself: shown this once, only its hash is kept")


class AuditQuery(Body):
    lines: int = Field(50, ge=1, le=10000)


class AuditEntry(BaseModel):
    model_config = ConfigDict(extra="allow")
    at: float
    key: str | None = Field(description="The key's name (null: no valid key was presented)")
    source: str | None
    method: str
    path: str
    status: int
    request_id: str
