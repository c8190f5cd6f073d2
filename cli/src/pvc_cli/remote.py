"""``pvc`` over the HTTP API: the same client-library calls as a direct connection, answered by pvcapid.

:class:`RemoteCluster` offers the methods the commands use, with the same return types (records and
views from pvc_core), so that every command prints the same thing whichever transport it goes through.
Errors come back as the same one-line :class:`pvc_core.errors.PvcError` family.
"""

from __future__ import annotations

import json
import ssl
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Sequence
from typing import Any

from pvc_core.client.api_keys import ApiKeyInfo, check_role
from pvc_core.client.api_keys import check_name as check_key_name
from pvc_core.client.audit import follow as follow_audit
from pvc_core.client.cluster import ClusterStatus, NodeView, wait_for
from pvc_core.client.plugin_calls import request
from pvc_core.client.plugin_data import check_key, check_plugin, encode_value
from pvc_core.client.vms import NetworkSpec, VolumeSpec, wait_settled
from pvc_core.errors import InvalidRequest, NotFound, PvcError, Unavailable, error_class
from pvc_core.nodes import NodeRecord
from pvc_core.vms.attachments import parse_network, parse_volume
from pvc_core.vms.model import VmNetwork, VmRecord, VmVolume


class RemoteCluster:
    def __init__(self, url: str, key: str, timeout: float = 30.0, cafile: str | None = None) -> None:
        self.url = url.rstrip("/")
        if not self.url.endswith("/api/v1"):
            self.url += "/api/v1"
        self.key = key
        self.timeout = timeout
        self.context = ssl.create_default_context(cafile=cafile) if url.startswith("https") else None
        self.vms = RemoteVms(self)

    # -- transport ------------------------------------------------------------------------------------------

    def call(
        self,
        method: str,
        path: str,
        body: Any = None,
        query: dict[str, Any] | None = None,
        timeout: float | None = None,
    ) -> Any:
        url = self.url + path
        if query:
            url += "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v is not None})
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("X-Api-Key", self.key)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=timeout or self.timeout, context=self.context) as reply:
                return json.loads(reply.read() or b"null")
        except urllib.error.HTTPError as exc:
            raise _rebuilt(exc) from exc
        except urllib.error.URLError as exc:
            raise Unavailable(f"cannot reach the PVC API at {self.url}: {exc.reason}") from exc
        except TimeoutError as exc:
            raise Unavailable(f"the PVC API at {self.url} did not answer in time") from exc

    def _long(self, path: str, body: dict[str, Any], wait: bool, timeout: float) -> Any:
        return self.call("POST", path, body | {"wait": wait, "timeout": timeout}, timeout=timeout + 30)

    # -- cluster and nodes --------------------------------------------------------------------------------

    def init(self, overwrite: bool = False) -> None:
        raise InvalidRequest("pvc cluster init needs a direct ZooKeeper connection, not the API")

    def require_initialised(self) -> int:
        return int(self.status().schema_version)

    def status(self) -> ClusterStatus:
        data = self.call("GET", "/cluster")
        return ClusterStatus(**{k: data[k] for k in ClusterStatus.__dataclass_fields__})

    def nodes(self) -> list[NodeView]:
        return [_node(d) for d in self.call("GET", "/node")]

    def node(self, name: str) -> NodeView:
        return _node(self.call("GET", f"/node/{_q(name)}"))

    def primary(self) -> str | None:
        primary = self.call("GET", "/cluster").get("primary")
        return str(primary) if primary else None

    def request_primary(self, name: str, wait: bool = False, timeout: float = 30.0) -> None:
        self._long(f"/node/{_q(name)}/primary", {}, wait, timeout)

    def request_secondary(self, name: str, wait: bool = False, timeout: float = 30.0) -> None:
        self._long(f"/node/{_q(name)}/secondary", {}, wait, timeout)

    def wait_for_primary(self, name: str, timeout: float = 30.0) -> None:
        wait_for(lambda: self.primary() == name, timeout, f"node {name} to become primary", interval=0.2)

    def wait_for_other_primary(self, name: str, timeout: float = 30.0) -> None:
        wait_for(lambda: self.primary() not in (None, name), timeout, f"another node to take over from {name}", 0.2)

    def _node_action(self, name: str, action: str, wait: bool, timeout: float) -> NodeView:
        reply = self._long(f"/node/{_q(name)}/{action}", {}, wait, timeout)
        return _node(reply) if wait else self.node(name)

    def flush(self, name: str, wait: bool = False, timeout: float = 600.0, progress: Any = None) -> NodeView:
        return self._node_action(name, "flush", wait, timeout)

    def ready(self, name: str, wait: bool = False, timeout: float = 600.0, progress: Any = None) -> NodeView:
        return self._node_action(name, "ready", wait, timeout)

    def fence(self, name: str, wait: bool = False, timeout: float = 120.0) -> NodeView:
        return self._node_action(name, "fence", wait, timeout)

    def faults(self) -> list[dict[str, Any]]:
        return list(self.call("GET", "/cluster").get("faults", []))

    def clear_fault(self, name: str) -> None:
        self.call("DELETE", f"/cluster/faults/{_q(name)}")

    def set_maintenance(self, on: bool) -> None:
        self.call("PUT", "/cluster/maintenance", {"on": on})

    def plugins_by_node(self) -> dict[str, dict[str, Any]]:
        # the nodes' plugins, as over ZooKeeper (the API also lists its own, with nodes empty)
        return {
            p["name"]: {k: p[k] for k in ("version", "hooks", "nodes")}
            for p in self.call("GET", "/plugins")
            if p["nodes"]
        }

    def plugin_data(self, plugin: str) -> RemotePluginData:
        return RemotePluginData(self, plugin)

    @property
    def api_keys(self) -> RemoteApiKeys:
        return RemoteApiKeys(self)

    @property
    def audit(self) -> RemoteAudit:
        return RemoteAudit(self)

    def plugin_call(self, plugin: str, action: str, args: dict[str, Any] | None = None, timeout: float = 30.0) -> Any:
        request(plugin, action, args)  # a bad name or arguments that are not JSON: refused before it is sent
        body = {"args": args or {}, "timeout": timeout}
        path = f"/plugin-calls/{_q(plugin)}/{_q(action)}"
        return self.call("POST", path, body, timeout=timeout + self.timeout)["result"]


class RemoteApiKeys:
    """The API keys through ``/api-keys`` (an admin key's)."""

    def __init__(self, cluster: RemoteCluster) -> None:
        self.cluster = cluster

    def list(self) -> list[ApiKeyInfo]:
        return [ApiKeyInfo(**k) for k in self.cluster.call("GET", "/api-keys")]

    def add(self, name: str, role: str, by: str = "") -> str:
        check_key_name(name)
        check_role(role)
        return str(self.cluster.call("POST", "/api-keys", {"name": name, "role": role})["key"])

    def remove(self, name: str) -> None:
        check_key_name(name)
        self.cluster.call("DELETE", f"/api-keys/{_q(name)}")


class RemoteAudit:
    """The audit log through ``/cluster/audit``."""

    def __init__(self, cluster: RemoteCluster) -> None:
        self.cluster = cluster

    def read(self, lines: int = 50) -> list[dict[str, Any]]:
        return list(self.cluster.call("GET", "/cluster/audit", query={"lines": lines}))

    def follow(self, interval: float = 1.0) -> Iterator[dict[str, Any]]:
        return follow_audit(self.read, interval)


class RemotePluginData:
    """A plugin's data through pvcapid's ``/plugin-data`` endpoints; keys are checked here as over
    ZooKeeper, so a bad one gets the same one-line error without a round trip."""

    def __init__(self, cluster: RemoteCluster, plugin: str) -> None:
        self.cluster = cluster
        self.plugin = check_plugin(plugin)

    def _url(self, key: str) -> str:
        return f"/plugin-data/{_q(self.plugin)}/{urllib.parse.quote(check_key(key), safe='/')}"

    def get(self, key: str) -> Any:
        try:
            return self.cluster.call("GET", self._url(key))["value"]
        except NotFound:
            return None

    def set(self, key: str, value: Any) -> None:
        encode_value(key, value)  # not JSON, or too big: refused before it is sent
        self.cluster.call("PUT", self._url(key), {"value": value})

    def delete(self, key: str) -> None:
        self.cluster.call("DELETE", self._url(key))

    def children(self, key: str = "") -> list[str]:
        check_key(key, allow_empty=True)
        found = self.cluster.call("GET", f"/plugin-data/{_q(self.plugin)}", query={"key": key or None})
        return [str(name) for name in found]


class RemoteVms:
    def __init__(self, cluster: RemoteCluster) -> None:
        self.cluster = cluster

    def list(self, node: str | None = None, state: str | None = None, tag: str | None = None) -> list[VmRecord]:
        return [
            VmRecord.from_dict(d)
            for d in self.cluster.call("GET", "/vm", query={"node": node, "state": state, "tag": tag})
        ]

    def get(self, name: str) -> VmRecord:
        return VmRecord.from_dict(self.cluster.call("GET", f"/vm/{_q(name)}"))

    def dump(self, name: str) -> str:
        return str(self.cluster.call("GET", f"/vm/{_q(name)}/xml")["xml"])

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
    ) -> VmRecord:
        parsed_volumes, parsed_networks = _attachments(volumes, networks)
        body = {
            "xml": xml,
            "target": target,
            "limit": list(limit),
            "node_selector": selector,
            "autostart": autostart,
            "migration_method": migration_method,
            "max_downtime": max_downtime_ms,
            "tags": list(tags),
            "volumes": [v.to_dict() for v in parsed_volumes],
            "networks": [n.to_dict() for n in parsed_networks],
        }
        return VmRecord.from_dict(self.cluster.call("POST", "/vm", body))

    def attach(
        self, name: str, volumes: Sequence[VolumeSpec] | None = None, networks: Sequence[NetworkSpec] | None = None
    ) -> VmRecord:
        parsed_volumes, parsed_networks = _attachments(volumes or (), networks or ())
        body = {
            "volumes": None if volumes is None else [v.to_dict() for v in parsed_volumes],
            "networks": None if networks is None else [n.to_dict() for n in parsed_networks],
        }
        return VmRecord.from_dict(self.cluster.call("PUT", f"/vm/{_q(name)}/attachments", body))

    def modify(self, name: str, xml: str, restart: bool = False) -> VmRecord:
        return VmRecord.from_dict(
            self.cluster.call("PUT", f"/vm/{_q(name)}/xml", {"xml": xml, "restart": restart, "wait": True})
        )

    def meta(
        self,
        name: str,
        limit: Sequence[str] | None = None,
        selector: str | None = None,
        autostart: bool | None = None,
        migration_method: str | None = None,
        max_downtime_ms: int | None = None,
    ) -> VmRecord:
        body = {
            "limit": list(limit) if limit is not None else None,
            "node_selector": selector,
            "autostart": autostart,
            "migration_method": migration_method,
            "max_downtime": max_downtime_ms,
        }
        return VmRecord.from_dict(
            self.cluster.call("PATCH", f"/vm/{_q(name)}/meta", {k: v for k, v in body.items() if v is not None})
        )

    def rename(self, name: str, new_name: str) -> VmRecord:
        return VmRecord.from_dict(self.cluster.call("POST", f"/vm/{_q(name)}/rename", {"new_name": new_name}))

    def remove(self, name: str) -> VmRecord:
        return VmRecord.from_dict(self.cluster.call("DELETE", f"/vm/{_q(name)}"))

    def tag(self, name: str, add: Sequence[str] = (), remove: Sequence[str] = ()) -> VmRecord:
        return VmRecord.from_dict(
            self.cluster.call("POST", f"/vm/{_q(name)}/tags", {"add": list(add), "remove": list(remove)})
        )

    def _state(self, name: str, state: str, target: str | None = None) -> VmRecord:
        body = {"state": state, "target": target, "wait": False}
        return self._settled(self.cluster.call("POST", f"/vm/{_q(name)}/state", body), name)

    def _settled(self, reply: Any, name: str) -> VmRecord:
        """A 202 task answer: the request was taken; the record as it is now."""
        return (
            self.get(name)
            if isinstance(reply, dict) and "status" in reply and "uuid" not in reply
            else VmRecord.from_dict(reply)
        )

    def start(self, name: str, target: str | None = None) -> VmRecord:
        return self._state(name, "start", target)

    def shutdown(self, name: str) -> VmRecord:
        return self._state(name, "shutdown")

    def stop(self, name: str) -> VmRecord:
        return self._state(name, "stop")

    def restart(self, name: str) -> VmRecord:
        return self._state(name, "restart")

    def disable(self, name: str) -> VmRecord:
        return self._state(name, "disable")

    def migrate(self, name: str, target: str | None = None) -> VmRecord:
        return self._settled(self.cluster.call("POST", f"/vm/{_q(name)}/migrate", {"target": target}), name)

    def unmigrate(self, name: str) -> VmRecord:
        return self._settled(self.cluster.call("POST", f"/vm/{_q(name)}/unmigrate", {}), name)

    def move(self, name: str, target: str | None = None) -> VmRecord:
        return self._settled(self.cluster.call("POST", f"/vm/{_q(name)}/move", {"target": target}), name)

    def wait(self, name: str, timeout: float = 120.0, progress: Any = None) -> VmRecord:
        return wait_settled(lambda: self.get(name), timeout, progress, interval=0.2)

    def console(
        self, name: str, lines: int = 50, follow: bool = False, timeout: float = 10.0
    ) -> Iterator[Sequence[str]]:
        seen: list[str] = []
        while True:
            batch = list(self.cluster.call("GET", f"/vm/{_q(name)}/log", query={"lines": lines})["lines"])
            new = batch if not seen else batch[_overlap(seen, batch) :]
            if new or not seen:
                yield new
            if not follow:
                return
            seen = batch
            time.sleep(0.5)


def _rebuilt(exc: urllib.error.HTTPError) -> PvcError:
    """The error the API answered, as the class its body's ``error`` key names (so the same exit status as
    over ZooKeeper); by status when the body is not the API's (a proxy in front of it, say)."""
    try:
        body = json.loads(exc.read())
    except ValueError:
        body = None
    if not isinstance(body, dict):
        body = {}
    kind = error_class(body.get("error"), exc.code)
    message = str(body.get("message") or f"the PVC API answered {exc.code} {exc.reason}")
    if issubclass(kind, InvalidRequest):
        return kind(message, body.get("field"))
    return kind(message)


def _overlap(previous: list[str], current: list[str]) -> int:
    """How many leading lines of ``current`` were already shown (the end of ``previous``)."""
    for size in range(min(len(previous), len(current)), 0, -1):
        if previous[-size:] == current[:size]:
            return size
    return 0


def _node(data: dict[str, Any]) -> NodeView:
    return NodeView(NodeRecord.from_dict(data), alive=bool(data.get("alive")), is_primary=bool(data.get("primary")))


def _q(name: str) -> str:
    return urllib.parse.quote(name, safe="")


def _attachments(
    volumes: Sequence[VolumeSpec], networks: Sequence[NetworkSpec]
) -> tuple[list[VmVolume], list[VmNetwork]]:
    """Parsed here as over ZooKeeper, so that a malformed one gets the same one-line error either way."""
    return (
        [parse_volume(v, f"volumes[{i}]") for i, v in enumerate(volumes)],
        [parse_network(n, f"networks[{i}]") for i, n in enumerate(networks)],
    )
