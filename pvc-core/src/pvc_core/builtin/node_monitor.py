"""Builtin plugin ``builtin.node-monitor``: the primary declares nodes ``dead``.

A node is dead when its liveness znode (its pvcd's ZooKeeper session) has been gone for
``timers.dead_grace`` seconds and has not come back. Only the acting primary decides, and its write is
made in a transaction that checks its epoch, so a primary that lost its role cannot mark anything. After a
takeover, every absent node gets a full grace period counted from the takeover. A node that stopped
cleanly (state ``stop``) is not dead.
"""

from __future__ import annotations

import time
from dataclasses import replace

from pvc_core import hookimpl
from pvc_core.errors import PvcError
from pvc_core.host import Host
from pvc_core.log import get_logger
from pvc_core.membership import read_record, update_record
from pvc_core.nodes import CoordinatorState, DaemonState, NodeRecord
from pvc_core.zk import paths

ALIVE_STATES = (DaemonState.INIT.value, DaemonState.RUN.value, DaemonState.SHUTDOWN.value)

# node name -> when (monotonic) its liveness was last seen to vanish; one Host per pvcd process
_vanished_at: dict[str, float] = {}


def _schedule(host: Host, name: str) -> None:
    _vanished_at[name] = time.monotonic()
    grace = host.config.core.timers.dead_grace
    host.call_later(grace, f"dead check {name}", lambda: check_dead(host, name))


def check_dead(host: Host, name: str) -> None:
    grace = host.config.core.timers.dead_grace
    if not host.is_primary or name in host.alive_nodes:
        return
    if time.monotonic() - _vanished_at.get(name, 0.0) < grace - 0.01:
        return  # it came back and vanished again since this check was scheduled: a later check decides
    if host.zk.exists(paths.liveness(name)) is not None:
        return  # came back; the liveness watch may not have told us yet
    found = read_record(host.zk, name)
    if found is None or found[0].daemon_state not in ALIVE_STATES:
        return

    def mark(record: NodeRecord) -> NodeRecord | None:
        if record.daemon_state not in ALIVE_STATES:
            return None
        coordinator_state = record.coordinator_state
        if coordinator_state in (
            CoordinatorState.PRIMARY.value,
            CoordinatorState.TAKEOVER.value,
            CoordinatorState.RELINQUISH.value,
        ):
            coordinator_state = CoordinatorState.SECONDARY.value  # a dead node holds no role, whatever it last wrote
        return replace(
            record,
            daemon_state=DaemonState.DEAD.value,
            coordinator_state=coordinator_state,
            state_changed_at=time.time(),
            state_reason=f"no ZooKeeper session for {host.config.core.timers.dead_grace:g}s",
        )

    log = get_logger(node=host.node, plugin="builtin.node-monitor", target=name)
    try:
        update_record(host.zk, name, mark, transaction_factory=host.primary_transaction)
    except PvcError as exc:
        log.warning("dead_mark_failed", error=str(exc))
        return
    log.warning("node_dead", epoch=host.primary_epoch)


def _schedule_absent(host: Host) -> None:
    for name in host.zk.children(paths.NODES):
        if name not in host.alive_nodes:
            _schedule(host, name)


@hookimpl
def pvc_liveness_changed(host: Host, vanished: frozenset[str]) -> None:
    # scheduled whatever our role: the check itself only acts while this node is the acting primary
    for name in vanished:
        _schedule(host, name)


@hookimpl
def pvc_become_primary(host: Host) -> None:
    """A new primary gives every absent node a full grace period from now."""
    _schedule_absent(host)


@hookimpl
def pvc_session_changed(host: Host, state: str) -> None:
    """Back from a suspension as primary: liveness may have moved meanwhile, look again."""
    if state == "resumed" and host.is_primary:
        _schedule_absent(host)
