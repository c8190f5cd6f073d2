"""Builtin plugin ``builtin.node-flush``: a node empties itself (``pvc node flush``) and takes its VMs back
(``pvc node ready``).

When its own record asks for ``flush``, the node migrates every VM it runs away, ``vms.flush_parallel`` at
a time, each placed by the placement rules (as ``pvc vm migrate`` would), and records why any stayed;
then it is ``flushed``. On ``unflush`` it brings back the VMs its flush moved, then is ``ready`` and starts
its autostart VMs. The work runs in a thread of its own; the moves are ordinary VM requests
(:mod:`pvc_core.vms.requests`), carried out by the nodes' VM managers.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace

from pvc_core import hookimpl
from pvc_core.builtin.vm_settings import VmSettings, vm_settings
from pvc_core.errors import PvcError
from pvc_core.host import Host
from pvc_core.log import get_logger
from pvc_core.nodes import DomainState, NodeRecord, read_record, update_record
from pvc_core.roles.compute import ComputeDriver
from pvc_core.vms import store
from pvc_core.vms.model import MIGRATING, VmRecord, VmState
from pvc_core.vms.requests import request

PVC_CONTRACT = ">=2.0,<3"

PLUGIN = "builtin.node-flush"


class NodeFlush:
    def __init__(self, host: Host, settings: VmSettings) -> None:
        self.host = host
        self.zk = host.zk
        self.node = host.node
        self.settings = settings
        self.log = get_logger(node=self.node, plugin=PLUGIN)
        self._flush_thread: threading.Thread | None = None
        self._stopping = threading.Event()

    def stop(self) -> None:
        self._stopping.set()

    def on_node_changed(self, new: NodeRecord) -> None:
        idle = self._flush_thread is None or not self._flush_thread.is_alive()
        if new.domain_state in (DomainState.FLUSH, DomainState.UNFLUSH) and idle:
            work = self.flush if new.domain_state == DomainState.FLUSH else self.unflush
            self._flush_thread = threading.Thread(target=work, name=f"pvc-{new.domain_state}", daemon=True)
            self._flush_thread.start()

    def _domain_state(self, state: DomainState, reason: str) -> None:
        update_record(self.zk, self.node, lambda r: replace(r, domain_state=state.value, domain_state_reason=reason))

    def _still(self, state: DomainState) -> bool:
        found = read_record(self.zk, self.node)
        return found is not None and found[0].domain_state == state.value and not self._stopping.is_set()

    def _move_all(self, records: list[VmRecord], target: str | None, flushed_from: str) -> list[str]:
        """Migrate the VMs, ``flush_parallel`` at a time; return why those that did not move stayed."""
        stayed: list[str] = []
        pending = list(records)
        moving: list[str] = []
        while (pending or moving) and not self._stopping.is_set():
            while pending and len(moving) < self.settings.flush_parallel:
                record = pending.pop(0)
                try:
                    request(self.zk, record.uuid, VmState.MIGRATE, target)
                    store.update(self.zk, record.uuid, lambda r: r.with_(flushed_from=flushed_from))
                    moving.append(record.uuid)
                except PvcError as exc:
                    stayed.append(f"{record.name}: {exc}")
            time.sleep(0.1)
            for uuid in list(moving):
                try:
                    current = store.read(self.zk, uuid)[0]
                except PvcError:
                    moving.remove(uuid)
                    continue
                if current.operation is None and current.state not in MIGRATING:
                    moving.remove(uuid)
                    if current.failure_reason and current.node == self.node and target is None:
                        stayed.append(f"{current.name}: {current.failure_reason}")
        return stayed

    def flush(self) -> None:
        log = self.log.bind(action="flush")
        log.info("flush_started")
        records = [r for r in store.list_all(self.zk) if r.node == self.node and r.state == VmState.START]
        stayed = self._move_all(records, None, self.node)
        if self._still(DomainState.FLUSH):
            self._domain_state(DomainState.FLUSHED, "; ".join(stayed))
        log.info("flush_done", stayed=len(stayed))

    def unflush(self) -> None:
        log = self.log.bind(action="ready")
        records = [
            r
            for r in store.list_all(self.zk)
            if r.flushed_from == self.node and r.state == VmState.START and r.node != self.node
        ]
        stayed = self._move_all(records, self.node, "")
        for record in records:
            store.update(self.zk, record.uuid, lambda r: r.with_(flushed_from=""))
        if self._still(DomainState.UNFLUSH):
            self._domain_state(DomainState.READY, "; ".join(stayed))
            self.restart_lost()
            self.autostart()
        log.info("ready", returned=len(records) - len(stayed))

    def restart_lost(self) -> None:
        """The VMs lost with this node while it was away (``observed: lost``) start here again: the reason
        written here is what wakes ``builtin.vm-manager`` up for each (it starts them once the node is ready)."""
        reason = f"lost with {self.node}; starting again: the node was made ready"

        def again(r: VmRecord) -> VmRecord | None:
            return r.with_(failure_reason=reason) if r.observed == "lost" and r.operation is None else None

        for record in store.list_all(self.zk):
            if record.node == self.node and record.observed == "lost" and record.operation is None:
                store.update(self.zk, record.uuid, again)

    def autostart(self) -> None:
        """Start this node's stopped VMs marked autostart (the node just became ready)."""
        for record in store.list_all(self.zk):
            if record.node == self.node and record.autostart and record.state == VmState.STOP:
                try:
                    request(self.zk, record.uuid, VmState.START, self.node)
                except PvcError as exc:
                    self.log.warning("autostart_failed", vm=record.name, error=str(exc))


@hookimpl
def pvc_daemon_start(host: Host) -> None:
    if isinstance(host.driver("compute"), ComputeDriver):  # a node without a hypervisor holds no VMs
        host.state[PLUGIN] = NodeFlush(host, vm_settings(host))


@hookimpl
def pvc_daemon_stop(host: Host) -> None:
    flush = host.state.get(PLUGIN)
    if isinstance(flush, NodeFlush):
        flush.stop()


@hookimpl
def pvc_node_changed(host: Host, name: str, new: NodeRecord | None) -> None:
    flush = host.state.get(PLUGIN)
    if isinstance(flush, NodeFlush) and new is not None and name == host.node:
        flush.on_node_changed(new)
