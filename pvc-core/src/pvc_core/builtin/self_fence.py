"""Builtin plugin ``builtin.self-fence``: a node cut off from ZooKeeper stops its own VMs.

Off unless ``ha.self_fence_interval`` is set. Then, on every node, once the connection has been gone
(suspended or the session lost) for that many seconds, the node destroys every guest its compute driver
runs, so that recovering them on the other nodes is safe even when its BMC cannot be reached (see
docs/ha.md for the caveat: a hung or killed pvcd cannot self-fence). The timing is the pure
:class:`pvc_core.ha.decisions.SelfFence`; the watch runs in a thread of its own.
"""

from __future__ import annotations

import threading
import time

from pvc_core import hookimpl
from pvc_core.builtin.ha_config import ha_config
from pvc_core.errors import PvcError
from pvc_core.ha.decisions import SelfFence
from pvc_core.host import Host
from pvc_core.log import get_logger
from pvc_core.roles.compute import RUNNING_STATES, ComputeDriver

PVC_CONTRACT = ">=2.0,<3"

PLUGIN = "builtin.self-fence"


class SelfFenceWatch:
    def __init__(self, host: Host, interval: float | None) -> None:
        self.host = host
        self.self_fence = SelfFence(interval)
        self.log = get_logger(node=host.node, plugin=PLUGIN)
        self._thread: threading.Thread | None = None

    def session(self, state: str) -> None:
        connected = state in ("resumed", "renewed")
        self.self_fence.connection(time.monotonic(), connected)
        if not connected and self.self_fence.interval is not None and self._thread is None:
            self._thread = threading.Thread(target=self._watch, name="pvc-self-fence", daemon=True)
            self._thread.start()

    def _watch(self) -> None:
        try:
            while self.self_fence.disconnected_at is not None:
                if self.self_fence.due(time.monotonic()):
                    self.stop_local_vms()
                    return
                time.sleep(0.5)
        finally:
            self._thread = None

    def stop_local_vms(self) -> None:
        compute = self.host.driver("compute")
        if not isinstance(compute, ComputeDriver):
            return
        running = [uuid for uuid, state in compute.domains().items() if state in RUNNING_STATES]
        self.log.error("self_fence", vms=len(running), interval=self.self_fence.interval)
        for uuid in running:
            try:
                compute.destroy(uuid)
            except PvcError as exc:
                self.log.error("self_fence_failed", uuid=uuid, error=str(exc))


def _watch(host: Host) -> SelfFenceWatch:
    watch = host.state.get(PLUGIN)
    if not isinstance(watch, SelfFenceWatch):
        watch = SelfFenceWatch(host, ha_config(host).self_fence_interval)
        host.state[PLUGIN] = watch
    return watch


@hookimpl
def pvc_session_changed(host: Host, state: str) -> None:
    _watch(host).session(state)
