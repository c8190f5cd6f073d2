"""Builtin plugin ``builtin.fence-monitor``: high availability in pvcd.

It feeds the pure decisions of :mod:`pvc_core.ha.decisions` with what ZooKeeper says (liveness, node
records, maintenance, fence requests) and carries out their actions: mark a node dead, fence it with the
``fencing`` driver (in a worker, bounded by the driver's timeouts), mark it fenced and start its VMs on
the other nodes, raise and clear faults. Every write is made in a transaction that checks this node's
primary epoch, and a fence is not even attempted once the epoch moved on.

Self-fence (a node cut off from ZooKeeper stops its own VMs) is ``builtin.self-fence``'s.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from pvc_core import hookimpl, maintenance
from pvc_core.builtin.ha_config import SECTION, HaConfig, ha_config
from pvc_core.builtin.ha_world import ZooKeeperWorld
from pvc_core.config import ConfigSection
from pvc_core.dispatch import Watch, ZkEvent
from pvc_core.errors import PvcError
from pvc_core.ha.decisions import (
    Action,
    Fence,
    FenceMonitor,
    HaSettings,
)
from pvc_core.ha.decisions import Watch as NodeWatch
from pvc_core.ha.executor import ActionExecutor
from pvc_core.host import Host
from pvc_core.log import get_logger
from pvc_core.nodes import DaemonState, DomainState, NodeRecord
from pvc_core.roles.fencing import FencingDriver
from pvc_core.zk import paths
from pvc_core.zk.session import decode

PVC_CONTRACT = ">=2.0,<3"

PLUGIN = "builtin.fence-monitor"
TICK = 0.5
BMC_CHECK = 60.0  # seconds between checks of a node's own BMC


class FenceService:
    def __init__(self, host: Host, config: HaConfig) -> None:
        self.host = host
        self.zk = host.zk
        grace = host.config.core.timers.dead_grace
        self.settings = HaSettings(
            dead_grace=grace,
            takeover_grace=config.takeover_grace if config.takeover_grace is not None else grace,
            fence_retries=config.fence_retries,
            on_fence_failure=config.on_fence_failure,
            self_fence_interval=config.self_fence_interval,
            max_dead_fraction=config.max_dead_fraction,
            fence_retry_interval=config.fence_retry_interval,
            fence_retry_max_interval=config.fence_retry_max_interval,
        )
        self.monitor = FenceMonitor(self.settings, host.node)
        self.log = get_logger(node=host.node, plugin=PLUGIN)
        self._ticking = False
        self._bmc_state: dict[str, Any] = {}
        self._bmc_checked = 0.0
        self.world = ZooKeeperWorld(host, self.settings, self.log, self.fence_result)
        self.executor = ActionExecutor(self.world)

    # -- role ----------------------------------------------------------------------------------------------

    def members(self) -> tuple[dict[str, bool], frozenset[str]]:
        """The nodes that should be alive (not those that stopped cleanly), and those recorded fenced."""
        names = self.zk.children(paths.NODES)
        states = {}
        for name, found in zip(names, self.zk.get_many([paths.node(n) for n in names]), strict=True):
            states[name] = (decode(found[0]) or {}).get("daemon_state", "") if found else ""
        fenced = frozenset(n for n, s in states.items() if s == DaemonState.FENCED)
        expected = {
            n: n in self.host.alive_nodes
            for n, s in states.items()
            if s != DaemonState.STOP or n in self.host.alive_nodes
        }
        return expected, fenced

    def become_primary(self, epoch: int) -> None:
        members, fenced = self.members()
        self.monitor.set_maintenance(maintenance.read(self.zk))
        for name in self.zk.children(paths.FAULTS):  # a previous primary's faults about nodes now alive are stale
            if members.get(name):
                self.zk.delete(paths.fault(name))
        self.run(self.monitor.become_primary(time.monotonic(), epoch, members, fenced))
        self.fence_requests(tuple(self.zk.children(paths.FENCE_REQUESTS)))  # asked while nobody was primary
        self._start_ticking()

    def _start_ticking(self) -> None:
        if not self._ticking:
            self._ticking = True
            self.host.call_later(TICK, "ha tick", self.tick)

    def become_secondary(self) -> None:
        self.world.pending.clear()
        self.monitor.lose_primary()

    def tick(self) -> None:
        if not self.host.is_primary:
            self._ticking = False
            return
        self.run(self.monitor.tick(time.monotonic()))
        self.host.call_later(TICK, "ha tick", self.tick)

    def liveness(self, alive: frozenset[str]) -> None:
        if self.host.is_primary:
            members, _ = self.members()
            self.run(self.monitor.liveness(time.monotonic(), set(alive), set(members)))

    # -- actions (dispatcher thread; fences in workers) ----------------------------------------------------

    def run(self, actions: list[Action]) -> None:
        self.executor.run(actions)

    def fence_result(self, action: Fence, confirmed: bool, reason: str) -> None:
        """Dispatcher thread: a fence's outcome, back from the worker that carried it out."""
        self.run(self.monitor.fence_result(time.monotonic(), action.node, action.epoch, confirmed, reason))

    # -- requests, maintenance, node changes ---------------------------------------------------------------

    def fence_requests(self, names: tuple[str, ...]) -> None:
        for name in names:
            if self.host.is_primary:
                self.zk.delete(paths.fence_request(name))
                self.log.warning("manual_fence_requested", target=name)
                self.run(self.monitor.request_fence(time.monotonic(), name))

    def node_changed(self, name: str, new: NodeRecord | None) -> None:
        track = self.monitor.tracks.get(name)
        back = new is not None and new.daemon_state == DaemonState.RUN and new.domain_state == DomainState.READY
        if back and track is not None and track.state == NodeWatch.FENCED:
            self.monitor.fenced_node_ready(name)

    # -- self-fence (every node) ---------------------------------------------------------------------------

    def session(self, state: str) -> None:
        if state == "resumed" and self.host.is_primary:  # the same role, same epoch: carry on
            pending, self.world.pending = self.world.pending, []
            self.run(pending)
            self._start_ticking()

    def bmc_state(self, driver: FencingDriver) -> dict[str, Any]:
        if time.monotonic() - self._bmc_checked > BMC_CHECK or not self._bmc_state:
            self._bmc_checked = time.monotonic()
            threading.Thread(target=self._check_bmc, args=(driver,), name="pvc-bmc-check", daemon=True).start()
        return dict(self._bmc_state)

    def _check_bmc(self, driver: FencingDriver) -> None:
        try:
            self._bmc_state = {"bmc": f"answers (power {driver.power_status(self.host.node).value})"}
        except PvcError as exc:
            self._bmc_state = {"bmc": f"no answer: {exc}"}


def _service(host: Host) -> FenceService:
    service = host.state.get(PLUGIN)
    if not isinstance(service, FenceService):
        service = FenceService(host, ha_config(host))
        host.state[PLUGIN] = service
    return service


@hookimpl
def pvc_config_sections() -> list[ConfigSection]:
    return [ConfigSection(SECTION, HaConfig)]


@hookimpl
def pvc_zk_watches(host: Host) -> list[Watch]:
    return [
        Watch(path=paths.MAINTENANCE, kind="data", name="ha.maintenance"),
        Watch(path=paths.FENCE_REQUESTS, kind="children", name="ha.fence-requests"),
    ]


@hookimpl
def pvc_zk_event(host: Host, event: ZkEvent) -> None:
    if event.name == "ha.maintenance":
        _service(host).monitor.set_maintenance(maintenance.parse(event.data))
    elif event.name == "ha.fence-requests" and event.children:
        _service(host).fence_requests(event.children)


@hookimpl
def pvc_become_primary(host: Host, epoch: int) -> None:
    _service(host).become_primary(epoch)


@hookimpl
def pvc_become_secondary(host: Host) -> None:
    _service(host).become_secondary()


@hookimpl
def pvc_liveness_changed(host: Host, alive: frozenset[str]) -> None:
    _service(host).liveness(alive)


@hookimpl
def pvc_node_changed(host: Host, name: str, new: NodeRecord | None) -> None:
    _service(host).node_changed(name, new)


@hookimpl
def pvc_session_changed(host: Host, state: str) -> None:
    _service(host).session(state)


@hookimpl
def pvc_node_resources(host: Host) -> dict[str, Any]:
    """Whether this node's own BMC answers (``pvc node info`` shows it), checked once a minute in the
    background so that an unreachable BMC never holds up the keepalive."""
    driver = host.driver("fencing")
    if not isinstance(driver, FencingDriver):
        return {}
    return _service(host).bmc_state(driver)


@hookimpl
def pvc_daemon_stop(host: Host) -> None:
    service = host.state.get(PLUGIN)
    if isinstance(service, FenceService):
        service.world.pool.shutdown(wait=False, cancel_futures=True)
