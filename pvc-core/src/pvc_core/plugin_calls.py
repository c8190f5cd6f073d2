"""Plugin calls on the primary: clients' requests for a plugin's action become ``pvc_plugin_actions`` calls.

The primary watches ``/plugin_calls`` while it holds the role. Each new request is taken in a worker (a
compare-and-set from ``pending`` to ``running``, so that it runs once even across a change of primary),
carried out by the action the named plugin declared, and answered in the request's own znode (see
:mod:`pvc_core.client.plugin_calls` for the caller's side and the znode's states).
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from pvc_core.client.plugin_data import encode_value
from pvc_core.errors import Conflict, InvalidRequest, NotFound, PvcError
from pvc_core.log import get_logger
from pvc_core.zk import paths
from pvc_core.zk.session import decode, encode

if TYPE_CHECKING:
    from pvc_core.dispatch import WatchHandle, WatchSet
    from pvc_core.host import Host

Actions = dict[str, dict[str, Callable[[dict[str, Any]], Any]]]
WORKERS = 4  # calls carried out at once; more wait their turn


class PluginCalls:
    def __init__(self, host: Host, actions: Actions, watches: WatchSet | None = None) -> None:
        self.host = host
        self.actions = actions
        self.watches = watches
        self.log = get_logger(node=host.node)
        self._handle: WatchHandle | None = None
        self._seen: set[str] = set()
        self._pool = ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="plugin-call")

    def role_changed(self, primary: bool) -> None:
        """Dispatcher thread: take requests while this node is primary, and only then."""
        if primary and self._handle is None and self.watches is not None and self.actions:
            self._seen.clear()
            self._handle = self.watches.children(paths.PLUGIN_CALLS, "plugin calls", self.on_requests)
        elif not primary and self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def stop(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def on_requests(self, names: list[str]) -> None:
        """Dispatcher thread: hand each request not seen yet to a worker."""
        self._seen &= set(names)
        for name in names:
            if name not in self._seen:
                self._seen.add(name)
                self._pool.submit(self.take, f"{paths.PLUGIN_CALLS}/{name}")

    def take(self, path: str) -> None:
        """Worker thread: carry out one request, unless another primary took it or its caller went away."""
        try:
            found = self.host.zk.get(path)
            if found is None or not self.host.is_primary:
                return
            value = decode(found[0]) or {}
            if value.get("state") != "pending":
                return
            self.host.zk.set(path, encode({**value, "state": "running"}), version=found[1].version)
        except Conflict:  # taken by another, or the caller gave up
            return
        except PvcError as exc:
            self.log.warning("plugin_call_unreadable", path=path, reason=exc.message)
            return
        answer = self.carry_out(str(value.get("plugin", "")), str(value.get("action", "")), value.get("args") or {})
        try:
            data = encode_value("result", answer)
        except InvalidRequest as exc:  # not JSON, or too big to answer through ZooKeeper
            data = encode(_error(PvcError(f"{value.get('plugin')} {value.get('action')}: {exc.message}")))
        try:
            self.host.zk.set(path, data)
        except Conflict:
            pass  # the caller stopped waiting: the answer has nowhere to go
        except PvcError as exc:
            self.log.warning("plugin_call_unanswered", path=path, reason=exc.message)

    def carry_out(self, plugin: str, action: str, args: dict[str, Any]) -> dict[str, Any]:
        table = self.actions.get(plugin)
        if table is None:
            known = ", ".join(sorted(self.actions)) or "none"
            return _error(NotFound(f"no plugin '{plugin}' with actions runs on the primary {self.host.node} ({known})"))
        handler = table.get(action)
        if handler is None:
            return _error(NotFound(f"plugin '{plugin}' has no action '{action}'"))
        log = self.log.bind(plugin=plugin, action=action)
        try:
            return {"state": "done", "result": handler(args)}
        except PvcError as exc:
            log.info("plugin_call_refused", reason=exc.message)
            return _error(exc)
        except Exception as exc:
            log.exception("plugin_call_failed")
            return _error(PvcError(f"plugin '{plugin}' failed {action}: {type(exc).__name__}: {exc}"))


def _error(exc: PvcError) -> dict[str, Any]:
    return {
        "state": "error",
        "error": {"code": exc.code, "message": exc.message, "field": getattr(exc, "field", None)},
    }
