"""A plugin's own data in the cluster: JSON values under ``/plugins/<plugin>``, by relative key.

``cluster.plugin_data("acme")`` gives the same object over ZooKeeper (this module) and over the API
(:class:`pvc_cli.remote.RemotePluginData`, answered by pvcapid with this module), so a plugin's ``pvc``
command reads and writes its data whichever transport the operator chose. A key is a relative path
(``status``, ``volumes/vol1``); the value of each is stored as compact JSON in the znode of that name.
"""

from __future__ import annotations

import re
from typing import Any

from pvc_core.errors import AlreadyExists, InvalidRequest
from pvc_core.zk import paths
from pvc_core.zk.session import ZkSession, decode, encode

# ZooKeeper refuses control characters and some unicode ranges in names: a key keeps to plain characters so
# that a bad one is refused here, in one line, and never as a ZooKeeper failure
PLUGIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
SEGMENT = re.compile(r"^[A-Za-z0-9_.:@+=-]{1,255}$")
MAX_VALUE_BYTES = 512 * 1024  # below ZooKeeper's default 1 MiB packet limit, with room for the request


def check_plugin(plugin: str) -> str:
    """``plugin`` if it names a plugin's subtree, else :class:`InvalidRequest` naming it."""
    if not PLUGIN_NAME.match(plugin) or ".." in plugin:
        raise InvalidRequest(f"{plugin!r} is not a plugin name (letters, digits, '_', '.', '-')", "plugin")
    return plugin


def check_key(key: str, allow_empty: bool = False) -> str:
    """``key`` if it is a relative path of plain segments, else :class:`InvalidRequest` naming it.

    Refused: an absolute path, empty segments (``a//b``, a trailing ``/``), ``.`` and ``..``, characters
    other than letters, digits and ``_.:@+=-``. ``allow_empty``: the plugin's root itself (for children)."""
    if key == "" and allow_empty:
        return key
    if key.startswith("/"):
        raise InvalidRequest(f"key {key!r} is absolute; give a path relative to the plugin's data", "key")
    for segment in key.split("/"):
        if segment in ("", ".", ".."):
            raise InvalidRequest(f"key {key!r} has an empty, '.' or '..' segment", "key")
        if not SEGMENT.match(segment):
            raise InvalidRequest(
                f"key {key!r} has a segment {segment!r} that is not letters, digits and _.:@+=- (at most 255)", "key"
            )
    return key


def encode_value(key: str, value: Any) -> bytes:
    """``value`` as compact JSON, refused with :class:`InvalidRequest` when it is not JSON or too big."""
    try:
        data = encode(value)
    except (TypeError, ValueError) as exc:
        raise InvalidRequest(f"the value of key {key!r} is not JSON: {exc}", "value") from exc
    if len(data) > MAX_VALUE_BYTES:
        raise InvalidRequest(f"the value of key {key!r} is {len(data)} bytes; at most {MAX_VALUE_BYTES}", "value")
    return data


class PluginData:
    """The plugin's data over a ZooKeeper session: znodes under ``/plugins/<plugin>``; with ``secret``, its
    secrets under ``/secrets/plugins/<plugin>`` (since 2.4: on a secured cluster only the nodes' credential
    reads them, an operator's may write them; the API never serves them)."""

    def __init__(self, zk: ZkSession, plugin: str, secret: bool = False) -> None:
        self.zk = zk
        self.plugin = check_plugin(plugin)
        self.root = paths.plugin_secrets_root(plugin) if secret else paths.plugin_root(plugin)

    def _path(self, key: str, allow_empty: bool = False) -> str:
        key = check_key(key, allow_empty)
        return f"{self.root}/{key}" if key else self.root

    def get(self, key: str, default: Any = None) -> Any:
        """The JSON value stored at ``key``; ``default`` when there is none."""
        path = self._path(key)
        found = self.zk.get(path)
        return decode(found[0]) if found else default

    def set(self, key: str, value: Any) -> None:
        """Store ``value`` (anything JSON can hold) at ``key``, creating it and its parents."""
        path = self._path(key)
        data = encode_value(key, value)
        try:
            self.zk.create(path, data, makepath=True)
        except AlreadyExists:
            self.zk.set(path, data)  # the last write wins

    def delete(self, key: str) -> None:
        """Remove ``key`` and every key under it; nothing happens when there is none."""
        path = self._path(key)
        self.zk.delete(path, recursive=True)

    def children(self, key: str = "") -> list[str]:
        """The names of the keys directly under ``key`` (the plugin's top-level keys for ``""``), sorted."""
        path = self._path(key, allow_empty=True)
        return self.zk.children(path)
