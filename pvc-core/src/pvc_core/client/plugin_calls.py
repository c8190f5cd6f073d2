"""A client's request for a plugin's action, carried out by the primary coordinator.

``cluster.plugin_call("storage-ceph", "volume.add", {...})`` creates an ephemeral sequential znode under
``/plugin_calls`` holding the plugin, the action and its arguments; the primary's pvcd carries the action
out (:mod:`pvc_core.plugin_calls`) and writes the outcome into the same znode; the caller reads it and
deletes the znode. A caller that goes away leaves nothing behind (the znode is its session's); a caller
that stops waiting deletes it, so the primary's result then goes nowhere.

The znode's JSON, as it goes: ``{"plugin", "action", "args", "state": "pending"}``, then ``"running"``
(a primary took it), then ``{"state": "done", "result"}`` or ``{"state": "error", "error": {"code",
"message", "field"}}``.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from typing import Any

from pvc_core.client.plugin_data import check_plugin, encode_value
from pvc_core.errors import InvalidRequest, PvcError, Timeout, error_class
from pvc_core.zk import paths
from pvc_core.zk.session import ZkSession, decode

ACTION_NAME = re.compile(r"^[a-z][a-z0-9_.-]{0,62}$")
DEFAULT_TIMEOUT = 30.0


def check_action(action: str) -> str:
    if not ACTION_NAME.match(action):
        raise InvalidRequest(f"{action!r} is not an action name (lower-case letters, digits, '_', '.', '-')", "action")
    return action


def request(plugin: str, action: str, args: dict[str, Any] | None) -> bytes:
    """The call's znode content; refused in one line when a name is bad or the arguments are not JSON."""
    if args is not None and not isinstance(args, dict):
        raise InvalidRequest(f"the arguments of {plugin} {action} must be a JSON object", "args")
    body = {"plugin": check_plugin(plugin), "action": check_action(action), "args": args or {}, "state": "pending"}
    return encode_value("args", body)


def outcome(plugin: str, action: str, value: dict[str, Any]) -> Any:
    """The result a finished call carries, or the error it carries raised as its own class."""
    if value.get("state") == "done":
        return value.get("result")
    error = value.get("error") or {}
    kind = error_class(error.get("code"))
    message = str(error.get("message") or f"plugin {plugin} failed {action}")
    raised: PvcError = kind(message, error.get("field")) if kind is InvalidRequest else kind(message)
    raise raised


def call(zk: ZkSession, plugin: str, action: str, args: dict[str, Any] | None, timeout: float) -> Any:
    """Ask the primary to carry out ``plugin``'s ``action`` and wait up to ``timeout`` for its outcome."""
    data = request(plugin, action, args)
    path = zk.create(f"{paths.PLUGIN_CALLS}/call-", data, ephemeral=True, sequence=True)
    changed = threading.Event()
    deadline = time.monotonic() + timeout
    try:
        while True:
            changed.clear()
            # a one-shot watch: set before reading, so a change between the read and the wait is not missed
            found = zk.get(path, watch=lambda _event: changed.set())
            if found is None:
                raise PvcError(f"the request for {plugin} {action} vanished before it was answered")
            value = decode(found[0]) or {}
            if value.get("state") in ("done", "error"):
                return outcome(plugin, action, value)
            left = deadline - time.monotonic()
            if left <= 0:
                taken = "was being carried out" if value.get("state") == "running" else "was not taken up"
                raise Timeout(
                    f"{plugin} {action} {taken} within {timeout:g}s "
                    "(is there a primary coordinator with the plugin enabled?)"
                )
            changed.wait(min(left, 1.0))  # a lost watch costs a second, not the whole timeout
    finally:
        with contextlib.suppress(PvcError):  # the session's end removes it anyway
            zk.delete(path)
