"""What a request for a VM state does: the state machine, the operation lock, and waiting for the outcome.

Clients write a VM's desired state; the node that must act takes the VM's operation lock in the same
compare-and-set (the record's ``operation``), and clears it when the VM settles. A second request
meanwhile gets :class:`pvc_core.errors.Busy`, unless the lock's node has no live session (a stale lock is
taken over). Used by the client bindings (the CLI and the API) and by the builtins that move VMs
themselves (a node flushing itself, autostart): one definition of every transition.
"""

from __future__ import annotations

import getpass
import socket
import time
from collections.abc import Callable

from pvc_core.errors import Busy, InvalidRequest
from pvc_core.vms import store
from pvc_core.vms.capacity import read_capacities
from pvc_core.vms.model import MIGRATING, MigrationMethod, NodeSelector, Operation, VmRecord, VmState
from pvc_core.vms.placement import NodeCapacity, choose_node, unfit_reason
from pvc_core.waiting import poll
from pvc_core.zk import paths
from pvc_core.zk.session import ZkSession

ProgressFn = Callable[[str], None]


def who() -> str:
    try:
        return f"{getpass.getuser()}@{socket.gethostname()}"
    except Exception:  # noqa: BLE001 - only a label
        return "?"


def alive_nodes(zk: ZkSession) -> set[str]:
    return set(zk.children(paths.LIVENESS))


def check_not_busy(record: VmRecord, alive: set[str]) -> None:
    """Refuse a request while another operation holds the VM (its lock's node is alive)."""
    operation = record.operation
    if operation is not None and operation.node in alive:
        since = time.strftime("%H:%M:%S", time.localtime(operation.started))
        raise Busy(
            f"VM {record.name} is busy: {operation.kind} in progress on {operation.node} since {since}; "
            "wait for it or retry later"
        )


def request(zk: ZkSession, uuid: str, state: VmState, target: str | None = None, forget_last: bool = False) -> VmRecord:
    """Ask for ``state`` (on ``target``): the node that must act is chosen here and takes the lock.

    ``forget_last``: the VM's last node is forgotten in the same write (a move: unmigrate will not bring it
    back)."""
    alive = alive_nodes(zk)
    table = read_capacities(zk, ignore=uuid)

    def change(record: VmRecord) -> VmRecord | None:
        check_not_busy(record, alive)
        new = transition(record, state, target, table, alive)
        return new.with_(last_node="") if new is not None and forget_last else new

    return store.update(zk, uuid, change)


def wait_settled(
    read: Callable[[], VmRecord], timeout: float, progress: ProgressFn | None = None, interval: float = 0.1
) -> VmRecord:
    """Read the VM until its operation is over (whatever the transport ``read`` goes through); raise with
    the reason if it ended in ``fail`` or settled with a failure reason."""
    last = [""]

    def settled() -> VmRecord | None:
        record = read()
        line = f"{record.name}: {record.state} on {record.node or '-'}" + (
            f" ({record.operation.kind} in progress)" if record.operation else ""
        )
        if progress is not None and line != last[0]:
            progress(line)
        last[0] = line
        if record.operation is not None or record.state in MIGRATING or record.state == VmState.RESTART:
            return None
        if record.state == VmState.FAIL:
            raise InvalidRequest(f"VM {record.name} failed: {record.failure_reason or 'no reason given'}")
        if record.failure_reason and record.state == VmState.START and record.observed == "running":
            raise InvalidRequest(f"VM {record.name}: {record.failure_reason}")
        return record

    return poll(settled, timeout, lambda: f"VM {last[0].split(':')[0]} ({last[0]})", interval)


def check_meta(selector: str | None, migration_method: str | None, max_downtime_ms: int | None) -> None:
    if selector and selector not in {s.value for s in NodeSelector}:
        raise InvalidRequest(f"unknown node selector '{selector}' (one of {', '.join(s.value for s in NodeSelector)})")
    if migration_method is not None and migration_method not in {m.value for m in MigrationMethod}:
        raise InvalidRequest(
            f"unknown migration method '{migration_method}' (one of {', '.join(m.value for m in MigrationMethod)})"
        )
    if max_downtime_ms is not None and max_downtime_ms < 1:
        raise InvalidRequest("max downtime must be at least 1 ms")


def transition(
    record: VmRecord, state: VmState, target: str | None, table: dict[str, NodeCapacity], alive: set[str]
) -> VmRecord | None:
    """The record after asking for ``state``, with the operation lock for the node that must act."""
    now, by = time.time(), who()

    def locked(new: VmRecord, kind: str, executor: str) -> VmRecord:
        operation = Operation(kind=kind, node=executor, started=now, by=by) if executor in alive else None
        return new.with_(failure_reason="", operation=operation)

    if state == VmState.START:
        if record.state == VmState.START and record.observed == "running":
            if target and target != record.node:
                raise InvalidRequest(
                    f"VM {record.name} already runs on {record.node}; use 'pvc vm migrate --target {target}' to move it"
                )
            return None  # already running
        node = target or record.node
        home = table.get(node)
        why = unfit_reason(record, home) if home is not None else "unknown node"
        if why:
            if target:
                raise InvalidRequest(f"cannot start VM {record.name} on {target}: {why}", field="target")
            node = choose_node(record, table)
        return locked(record.with_(state=VmState.START.value, node=node), "start", node)
    if state in (VmState.SHUTDOWN, VmState.STOP, VmState.DISABLE, VmState.RESTART):
        if state != VmState.RESTART and record.state == state:
            return None
        if state == VmState.RESTART and record.state != VmState.START:
            raise InvalidRequest(f"VM {record.name} is in state {record.state}; only a started VM can restart")
        return locked(record.with_(state=state.value), state.value, record.node)
    if state in (VmState.MIGRATE, VmState.UNMIGRATE):
        if record.state != VmState.START:
            raise InvalidRequest(f"VM {record.name} is in state {record.state}; only a started VM can migrate")
        if state == VmState.UNMIGRATE:
            if not record.last_node:
                raise InvalidRequest(f"VM {record.name} has no previous node to return to")
            destination = record.last_node
            home = table.get(destination)
            if home is None or not home.ready:
                raise InvalidRequest(f"cannot unmigrate VM {record.name} to {destination}: not ready")
            new = record.with_(state=VmState.UNMIGRATE.value, node=destination, last_node="")
        else:
            if target == record.node:
                raise InvalidRequest(f"VM {record.name} already runs on {target}")
            if target:
                home = table.get(target)
                why = unfit_reason(record, home) if home is not None else "unknown node"
                if why:
                    raise InvalidRequest(f"cannot migrate VM {record.name} to {target}: {why}", field="target")
                destination = target
            else:
                destination = choose_node(record, table, exclude=[record.node])
            new = record.with_(state=VmState.MIGRATE.value, node=destination, last_node=record.node)
        return locked(new, new.state, record.node)
    raise InvalidRequest(f"cannot ask for state '{state}'")
