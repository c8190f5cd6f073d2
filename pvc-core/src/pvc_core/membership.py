"""Membership: the node registers, proves liveness with an ephemeral znode and publishes its state.

``/nodes/NAME`` is the node's persistent JSON record (daemon state, coordinator state, resources,
plugins); ``/liveness/NAME`` is ephemeral, owned by the pvcd session: it is how every other node knows
this one is alive. Record updates are compare-and-set, so a node and the primary (which writes ``dead``)
never overwrite each other's change.
"""

from __future__ import annotations

import contextlib
import os
import threading
import time
from dataclasses import replace
from typing import Any

from pvc_core import __version__
from pvc_core.errors import InvalidRequest
from pvc_core.log import get_logger
from pvc_core.nodes import (
    CoordinatorState,
    DaemonState,
    DomainState,
    NodeRecord,
    PluginInfo,
    read_record,
    update_record,
)
from pvc_core.zk import paths
from pvc_core.zk.session import Conflict, ZkSession, decode, encode


def boot_id() -> str:
    """This machine's boot id: tells whether a liveness znode was written here, since this boot."""
    try:
        with open("/proc/sys/kernel/random/boot_id") as source:
            return source.read().strip()
    except OSError:
        return ""


def _is_pvcd(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as source:
            return b"pvcd" in source.read()
    except OSError:
        return False


class Membership:
    def __init__(self, zk: ZkSession, node: str, coordinator: bool, session_timeout: float) -> None:
        self.zk = zk
        self.node = node
        self.coordinator = coordinator
        self.session_timeout = session_timeout
        self.log = get_logger(node=node, component="membership")
        self.daemon_state = DaemonState.INIT
        self._published_resources: dict[str, Any] | None = None
        self._publishing = threading.Lock()  # the keepalive loop and host.republish() from workers
        self._published_attachments: dict[str, dict[str, str]] = {}

    # -- registration ------------------------------------------------------------------------------------

    def wait_for_stale_liveness(self) -> None:
        """Refuse to run twice: a liveness znode held by another session must vanish first.

        After a crash the old session's znode lingers until that session times out. When it was written on
        this very machine (same boot) by a process that is gone, it is released at once, so a restart after
        a crash does not wait. A live pvcd of the same name here is refused at once; one elsewhere holds the
        znode for good and is refused once the longest plausible session timeout has passed.
        """
        deadline = time.monotonic() + max(self.session_timeout * 2 + 2.0, 10.0)
        while True:
            found = self.zk.get(paths.liveness(self.node))
            if found is None or found[1].ephemeralOwner == self.zk.session_id:
                return
            holder, stat = decode(found[0]) or {}, found[1]
            if holder.get("boot_id") == boot_id() and holder.get("pid") != os.getpid():
                pid = int(holder.get("pid") or 0)
                if pid and _is_pvcd(pid):
                    raise InvalidRequest(
                        f"node {self.node} is already running (pvcd pid {pid} on this machine); "
                        "stop it or fix the node name in the config"
                    )
                with contextlib.suppress(Conflict):
                    self.zk.delete(paths.liveness(self.node), version=stat.version)
                self.log.info("released_stale_liveness", previous_pid=pid)
                continue
            if time.monotonic() > deadline:
                raise InvalidRequest(
                    f"node {self.node} is already running on another machine (its liveness is held by session "
                    f"0x{stat.ephemeralOwner:x}); stop that pvcd or fix the node name in the config"
                )
            time.sleep(0.2)

    def register(
        self,
        plugins: list[PluginInfo],
        drivers: dict[str, Any],
        resources: dict[str, Any],
        attachments: dict[str, dict[str, str]] | None = None,
    ) -> None:
        """Write the node's record (state ``init``) and create its liveness znode."""
        self.wait_for_stale_liveness()
        coordinator_state = CoordinatorState.SECONDARY if self.coordinator else CoordinatorState.CLIENT
        fields = dict(
            daemon_state=DaemonState.INIT.value,
            coordinator=self.coordinator,
            coordinator_state=coordinator_state.value,
            resources=resources,
            attachments=attachments or {},
            pvc_version=__version__,
            plugins=tuple(plugins),
            drivers=drivers,
            state_changed_at=time.time(),
            state_reason="pvcd starting",
        )
        if read_record(self.zk, self.node) is None:
            with contextlib.suppress(Conflict):  # another start raced us to it: updated below either way
                self.zk.create(paths.node(self.node), encode(NodeRecord(name=self.node, **fields).to_dict()))  # type: ignore[arg-type]
        update_record(self.zk, self.node, lambda record: _registered(record, fields))
        self._published_resources = resources
        self._published_attachments = attachments or {}
        self.daemon_state = DaemonState.INIT
        self.create_liveness()
        self.log.info("registered", coordinator=self.coordinator)

    def create_liveness(self) -> None:
        value = encode(
            {
                "pid": os.getpid(),
                "boot_id": boot_id(),
                "session": f"0x{self.zk.session_id or 0:x}",
                "since": time.time(),
            }
        )
        try:
            self.zk.create(paths.liveness(self.node), value, ephemeral=True)
        except Conflict:
            stat = self.zk.exists(paths.liveness(self.node))
            if stat is not None and stat.ephemeralOwner != self.zk.session_id:
                # our own previous session's znode (same process, session renewed): replace it
                self.zk.delete(paths.liveness(self.node), version=stat.version)
                self.zk.create(paths.liveness(self.node), value, ephemeral=True)

    def remove_liveness(self) -> None:
        self.zk.delete(paths.liveness(self.node))

    # -- state -------------------------------------------------------------------------------------------

    def set_daemon_state(self, state: DaemonState, reason: str = "") -> None:
        self.daemon_state = state
        update_record(
            self.zk,
            self.node,
            lambda record: replace(record, daemon_state=state.value, state_changed_at=time.time(), state_reason=reason),
        )
        self.log.info("daemon_state", state=state.value, reason=reason)

    def set_coordinator_state(self, state: CoordinatorState) -> None:
        update_record(self.zk, self.node, lambda record: replace(record, coordinator_state=state.value))

    def publish_resources(
        self, resources: dict[str, Any], attachments: dict[str, dict[str, str]] | None = None
    ) -> bool:
        """Rewrite the record only when the resources (or what the node offers to attach) changed; return
        whether it wrote."""
        with self._publishing:
            offers = self._published_attachments if attachments is None else attachments
            if resources == self._published_resources and offers == self._published_attachments:
                return False
            update_record(self.zk, self.node, lambda record: replace(record, resources=resources, attachments=offers))
            self._published_resources = resources
            self._published_attachments = offers
            return True

    def renew(self) -> None:
        """After a new session: liveness again, and back to ``run`` if another node marked this one dead."""
        self.create_liveness()
        state = self.daemon_state

        def back(record: NodeRecord) -> NodeRecord | None:
            if record.daemon_state in (DaemonState.DEAD.value, DaemonState.STOP.value) and state == DaemonState.RUN:
                return replace(
                    record, daemon_state=state.value, state_changed_at=time.time(), state_reason="session renewed"
                )
            return None

        update_record(self.zk, self.node, back)
        self.log.info("re-registered", session=f"0x{self.zk.session_id or 0:x}")


def _registered(record: NodeRecord, fields: dict[str, Any]) -> NodeRecord:
    """The record a starting pvcd writes over ``record``. A node the cluster declared dead (or fenced) while it
    was away comes back flushed: the primary may be fencing it and recovering its VMs right now, so it takes
    no VM, and starts none of those it lost, until an operator makes it ready (``pvc node ready``)."""
    new = replace(record, **fields)
    declared = record.daemon_state in (DaemonState.DEAD.value, DaemonState.FENCED.value)
    if declared and record.domain_state not in (DomainState.FLUSHED.value, DomainState.FLUSH.value):
        reason = f"declared {record.daemon_state} while it was away: pvc node ready brings it back"
        new = replace(new, domain_state=DomainState.FLUSHED.value, domain_state_reason=reason)
    return new
