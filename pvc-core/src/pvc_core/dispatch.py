"""Event dispatch: ZooKeeper changes become work on one dispatcher thread.

kazoo callbacks (watches, session state) only put a job on the queue. The dispatcher thread runs jobs in
order; a job that raises is logged with its event and the next job runs. Kernel logic (election,
membership) and plugin hooks share this one thread, so plugin code never runs on a kazoo thread and never
races the kernel.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from pvc_core.log import get_logger

if TYPE_CHECKING:
    from pvc_core.zk.session import ZkSession


@dataclass(frozen=True)
class Watch:
    """A path a plugin wants to hear about: its data (``data``) or its list of children (``children``)."""

    path: str
    kind: Literal["data", "children"]
    name: str


@dataclass(frozen=True)
class ZkEvent:
    """A watched path changed. ``data`` is the raw bytes (data watches); ``children`` the names (children)."""

    name: str
    path: str
    kind: str
    exists: bool
    data: bytes | None = None
    version: int | None = None
    children: tuple[str, ...] | None = None
    received_at: float = field(default_factory=time.time)

    def json(self) -> Any:
        """The data decoded as JSON (None when the path does not exist or holds nothing)."""
        return json.loads(self.data) if self.data else None


_STOP = object()


SLOW_JOB = 2.0  # seconds one job may hold the dispatcher before it is logged


class Dispatcher:
    def __init__(self, node: str) -> None:
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread = threading.Thread(target=self._run, name="pvc-dispatcher", daemon=True)
        self._log = get_logger(node=node, component="dispatcher")
        self._timers: set[threading.Timer] = set()
        self._timers_lock = threading.Lock()
        self._closed = False

    def start(self) -> None:
        self._thread.start()

    def post(self, event: str, job: Callable[[], None]) -> None:
        """Queue ``job`` (safe from any thread, including kazoo's)."""
        if not self._closed:
            self._queue.put((event, job))

    def call_later(self, delay: float, event: str, job: Callable[[], None]) -> None:
        """Queue ``job`` after ``delay`` seconds (a monotonic timer, not a wall clock)."""

        def fire() -> None:
            with self._timers_lock:
                self._timers.discard(timer)
            self.post(event, job)

        timer = threading.Timer(delay, fire)
        timer.daemon = True
        with self._timers_lock:
            self._timers.add(timer)
        timer.start()

    def run_sync(self, event: str, job: Callable[[], Any], timeout: float) -> Any:
        """Run ``job`` on the dispatcher thread and wait for it (used by start-up and shutdown)."""
        if threading.current_thread() is self._thread:
            return job()
        done = threading.Event()
        outcome: list[Any] = []

        def wrapped() -> None:
            try:
                outcome.append(("ok", job()))
            except BaseException as exc:  # noqa: BLE001 - handed back to the waiting thread
                outcome.append(("error", exc))
            finally:
                done.set()

        self.post(event, wrapped)
        if not done.wait(timeout):
            raise TimeoutError(f"dispatcher did not finish '{event}' within {timeout:g}s")
        kind, value = outcome[0]
        if kind == "error":
            raise value
        return value

    def stop(self, timeout: float = 10.0) -> None:
        """Run what is queued, then stop the thread."""
        with self._timers_lock:
            for timer in self._timers:
                timer.cancel()
            self._timers.clear()
        self._queue.put((None, _STOP))
        self._closed = True
        if self._thread.is_alive() and threading.current_thread() is not self._thread:
            self._thread.join(timeout)

    @property
    def backlog(self) -> int:
        return self._queue.qsize()

    def _run(self) -> None:
        while True:
            event, job = self._queue.get()
            if job is _STOP:
                return
            started = time.monotonic()
            try:
                job()
            except Exception:  # noqa: BLE001 - one failing job must not stop dispatch
                self._log.exception("dispatch_failed", on_event=event)
            took = time.monotonic() - started
            if took > SLOW_JOB:  # everything else waited meanwhile: say so, naming the culprit
                self._log.warning("slow_dispatch", on_event=event, seconds=round(took, 3), backlog=self.backlog)


class WatchHandle:
    """Stops one watch: its next firing is its last, and nothing more is posted."""

    def __init__(self) -> None:
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class WatchSet:
    """Keeps kazoo watches armed (kazoo's recipes re-read after every reconnect) and posts their events."""

    def __init__(self, zk: ZkSession, dispatcher: Dispatcher) -> None:
        self._zk = zk
        self._dispatcher = dispatcher
        self._stopped = False

    def stop(self) -> None:
        self._stopped = True

    def data(self, path: str, event: str, handler: Callable[[bytes | None, Any], None]) -> WatchHandle:
        """Call ``handler(data, stat)`` on the dispatcher now and after every change of ``path``."""
        from kazoo.recipe.watchers import DataWatch

        handle = WatchHandle()

        def on_change(data: bytes | None, stat: Any, *_: Any) -> bool | None:
            if self._stopped or handle.cancelled:
                return False
            self._dispatcher.post(event, lambda: None if handle.cancelled else handler(data, stat))
            return None

        DataWatch(self._zk.client, path, on_change)
        return handle

    def children(self, path: str, event: str, handler: Callable[[list[str]], None]) -> WatchHandle:
        """Call ``handler(names)`` on the dispatcher now and after every change of ``path``'s children."""
        from kazoo.recipe.watchers import ChildrenWatch

        self._zk.ensure(path)
        handle = WatchHandle()

        def on_change(children: list[str]) -> bool | None:
            if self._stopped or handle.cancelled:
                return False
            names = sorted(children)
            self._dispatcher.post(event, lambda: None if handle.cancelled else handler(names))
            return None

        ChildrenWatch(self._zk.client, path, on_change)
        return handle

    def plugin_watch(self, watch: Watch, deliver: Callable[[ZkEvent], None]) -> None:
        if watch.kind == "data":
            self.data(
                watch.path,
                f"watch {watch.name}",
                lambda data, stat: deliver(
                    ZkEvent(
                        name=watch.name,
                        path=watch.path,
                        kind="data",
                        exists=stat is not None,
                        data=data,
                        version=stat.version if stat is not None else None,
                    )
                ),
            )
        else:
            self.children(
                watch.path,
                f"watch {watch.name}",
                lambda names: deliver(
                    ZkEvent(name=watch.name, path=watch.path, kind="children", exists=True, children=tuple(names))
                ),
            )
