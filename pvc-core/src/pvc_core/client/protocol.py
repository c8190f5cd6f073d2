"""What a ``pvc`` command may call on its cluster, whichever transport the operator chose.

``obj.cluster()`` (in ``pvc_cli.context``) yields a :class:`ClusterClient`: :class:`pvc_core.client.Cluster`
over a direct ZooKeeper connection, or ``pvc_cli.remote.RemoteCluster`` over the HTTP API. Both satisfy
these protocols (mypy checks it where ``obj.cluster()`` yields them), so a command written against them,
a plugin's included, works the same both ways. Reaching past them (``cluster.zk``) works over ZooKeeper only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pvc_core.client.api_keys import ApiKeyInfo
    from pvc_core.client.cluster import ClusterStatus, NodeView
    from pvc_core.client.vms import NetworkSpec, VolumeSpec
    from pvc_core.vms.model import VmRecord

Progress = Callable[[str], None]


class ApiKeysClient(Protocol):
    """The API keys every pvcapid accepts (``pvc api key ...``; over the API, an admin key's)."""

    def list(self) -> list[ApiKeyInfo]:
        """Name, role, when and by whom: never the key nor its hash."""
        ...

    def add(self, name: str, role: str, by: str = "") -> str:
        """Make a key; return it (shown once: only its hash is kept)."""
        ...

    def remove(self, name: str) -> None: ...


class AuditClient(Protocol):
    """The API's audit log (``pvc cluster audit``)."""

    def read(self, lines: int = 50) -> list[dict[str, Any]]:
        """The last ``lines`` entries, oldest first."""
        ...

    def follow(self, interval: float = 1.0) -> Iterator[dict[str, Any]]:
        """Every entry from now on, as it comes."""
        ...


class PluginDataClient(Protocol):
    """One plugin's data: JSON values by key, a relative path under ``/plugins/<plugin>``.

    A key such as ``status`` or ``volumes/vol1``; an absolute key, an empty segment, ``.`` or ``..`` is
    refused with :class:`pvc_core.errors.InvalidRequest` naming the key."""

    def get(self, key: str) -> Any:
        """The JSON value at ``key``; None when there is none."""
        ...

    def set(self, key: str, value: Any) -> None:
        """Store a JSON value at ``key`` (created with its parents; the last write wins)."""
        ...

    def delete(self, key: str) -> None:
        """Remove ``key`` and every key under it; nothing happens when there is none."""
        ...

    def children(self, key: str = "") -> list[str]:
        """The names directly under ``key`` (``""``: the plugin's top-level keys), sorted."""
        ...


class VmsClient(Protocol):
    """VM operations: ``cluster.vms``."""

    def list(self, node: str | None = None, state: str | None = None, tag: str | None = None) -> list[VmRecord]: ...

    def get(self, name: str) -> VmRecord: ...

    def dump(self, name: str) -> str: ...

    def define(
        self,
        xml: str,
        target: str | None = None,
        limit: Sequence[str] = (),
        selector: str | None = None,
        autostart: bool = False,
        migration_method: str = "none",
        max_downtime_ms: int = 300,
        tags: Sequence[str] = (),
        volumes: Sequence[VolumeSpec] = (),
        networks: Sequence[NetworkSpec] = (),
    ) -> VmRecord: ...

    def attach(
        self, name: str, volumes: Sequence[VolumeSpec] | None = None, networks: Sequence[NetworkSpec] | None = None
    ) -> VmRecord: ...

    def modify(self, name: str, xml: str, restart: bool = False) -> VmRecord: ...

    def meta(
        self,
        name: str,
        limit: Sequence[str] | None = None,
        selector: str | None = None,
        autostart: bool | None = None,
        migration_method: str | None = None,
        max_downtime_ms: int | None = None,
    ) -> VmRecord: ...

    def rename(self, name: str, new_name: str) -> VmRecord: ...

    def remove(self, name: str) -> VmRecord: ...

    def tag(self, name: str, add: Sequence[str] = (), remove: Sequence[str] = ()) -> VmRecord: ...

    def start(self, name: str, target: str | None = None) -> VmRecord: ...

    def shutdown(self, name: str) -> VmRecord: ...

    def stop(self, name: str) -> VmRecord: ...

    def restart(self, name: str) -> VmRecord: ...

    def disable(self, name: str) -> VmRecord: ...

    def migrate(self, name: str, target: str | None = None) -> VmRecord: ...

    def unmigrate(self, name: str) -> VmRecord: ...

    def move(self, name: str, target: str | None = None) -> VmRecord: ...

    def wait(self, name: str, timeout: float = 120.0, progress: Progress | None = None) -> VmRecord: ...

    def console(
        self, name: str, lines: int = 50, follow: bool = False, timeout: float = 10.0
    ) -> Iterator[Sequence[str]]: ...


class ClusterClient(Protocol):
    """The cluster as every ``pvc`` command sees it: nodes, coordinators, HA, VMs, plugins."""

    @property
    def vms(self) -> VmsClient: ...

    def init(self, overwrite: bool = False) -> None: ...

    def require_initialised(self) -> int: ...

    def status(self) -> ClusterStatus: ...

    def nodes(self) -> list[NodeView]: ...

    def node(self, name: str) -> NodeView: ...

    def primary(self) -> str | None: ...

    def request_primary(self, name: str, wait: bool = False, timeout: float = 30.0) -> None: ...

    def request_secondary(self, name: str, wait: bool = False, timeout: float = 30.0) -> None: ...

    def wait_for_primary(self, name: str, timeout: float = 30.0) -> None: ...

    def wait_for_other_primary(self, name: str, timeout: float = 30.0) -> None: ...

    def flush(self, name: str, wait: bool = False, timeout: float = 600.0, progress: Any = None) -> NodeView: ...

    def ready(self, name: str, wait: bool = False, timeout: float = 600.0, progress: Any = None) -> NodeView: ...

    def fence(self, name: str, wait: bool = False, timeout: float = 120.0) -> NodeView: ...

    def faults(self) -> list[dict[str, Any]]: ...

    def clear_fault(self, name: str) -> None: ...

    def set_maintenance(self, on: bool) -> None: ...

    def plugins_by_node(self) -> dict[str, dict[str, Any]]: ...

    @property
    def api_keys(self) -> ApiKeysClient: ...

    @property
    def audit(self) -> AuditClient: ...

    def plugin_data(self, plugin: str) -> PluginDataClient:
        """The data of ``plugin`` (its name: the ``pvc.plugins`` entry point), under ``/plugins/<plugin>``."""
        ...

    def plugin_call(self, plugin: str, action: str, args: dict[str, Any] | None = None, timeout: float = 30.0) -> Any:
        """Ask the primary coordinator to carry out ``plugin``'s action (``pvc_plugin_actions``) with
        ``args``; its result, or its error raised as its own class."""
        ...
