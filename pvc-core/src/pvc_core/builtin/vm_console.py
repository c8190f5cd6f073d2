"""Builtin plugin ``builtin.vm-console``: a node answers requests for the serial consoles of its VMs.

A client (``pvc vm log``, the API) creates an ephemeral request ``/console/NODE/UUID.TOKEN`` with how many
lines it wants and whether to follow; the node that runs the VM answers in the same znode, from its
compute driver's console log, and for ``follow`` keeps appending until the client removes the request.
Each request is served by a thread of its own, never the dispatcher.
"""

from __future__ import annotations

import threading

from pvc_core import hookimpl
from pvc_core.errors import PvcError
from pvc_core.host import Host
from pvc_core.log import get_logger
from pvc_core.roles.compute import ComputeDriver
from pvc_core.zk import paths
from pvc_core.zk.session import encode

PVC_CONTRACT = ">=2.0,<3"

PLUGIN = "builtin.vm-console"


class VmConsole:
    def __init__(self, host: Host, driver: ComputeDriver) -> None:
        self.host = host
        self.zk = host.zk
        self.node = host.node
        self.driver = driver
        self.log = get_logger(node=self.node, plugin=PLUGIN)
        self._lock = threading.Lock()
        self._consoles: set[str] = set()
        self._stopping = threading.Event()

    def start(self) -> None:
        self.host.watches.children(paths.console_requests(self.node), "vm console", self.on_console_requests)

    def stop(self) -> None:
        self._stopping.set()

    def on_console_requests(self, names: list[str]) -> None:
        for name in names:
            with self._lock:
                if name in self._consoles:
                    continue
                self._consoles.add(name)
            threading.Thread(target=self._serve_console, args=(name,), name=f"pvc-console-{name}", daemon=True).start()

    def _serve_console(self, name: str) -> None:
        """Answer one console request; for ``follow``, keep appending until the client removes it."""
        path = f"{paths.console_requests(self.node)}/{name}"
        uuid = name.split(".", 1)[0]
        try:
            request = self.zk.get_json(path) or {}
            lines, follow = int(request.get("lines", 50)), bool(request.get("follow", False))
            chunk = self.driver.console(uuid, lines)
            sequence = 1
            self.zk.set(path, encode({"sequence": sequence, "lines": chunk.lines, "node": self.node}))
            while follow and not self._stopping.wait(0.5) and self.zk.exists(path) is not None:
                chunk = self.driver.console(uuid, lines, chunk.offset)
                if chunk.lines:
                    sequence += 1
                    self.zk.set(path, encode({"sequence": sequence, "lines": chunk.lines, "node": self.node}))
        except PvcError as exc:  # the client went away (its ephemeral request with it), or ZooKeeper did
            self.log.debug("console_request_ended", request=name, reason=str(exc))
        finally:
            with self._lock:
                self._consoles.discard(name)


@hookimpl
def pvc_daemon_start(host: Host) -> None:
    driver = host.driver("compute")
    if isinstance(driver, ComputeDriver):
        console = VmConsole(host, driver)
        host.state[PLUGIN] = console
        console.start()


@hookimpl
def pvc_daemon_stop(host: Host) -> None:
    console = host.state.get(PLUGIN)
    if isinstance(console, VmConsole):
        console.stop()
