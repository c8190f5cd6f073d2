"""Coordinator election: exactly one primary among the configured coordinators.

The primary holds the ephemeral ``/coordinators/primary`` znode, created in one transaction with the
increment of ``/coordinators/epoch``: the epoch changes exactly when the primary does, and it is the fencing
token (``Host.primary_transaction`` checks it). When the primary's session ends its znode goes, every
secondary is told by its watch, and they race to create it; one wins.

Hand-over on request (``pvc node primary X`` / ``pvc node secondary X``) goes through
``/coordinators/request``: the acting primary relinquishes, leaving ``/coordinators/handover`` naming the
target (or none, and itself as the one stepping back). The others leave the target ``handover_timeout``
seconds to take the role before they contend; the node that stepped back waits as long before it
contends again. Timers are local and monotonic; no wall clocks are compared across nodes.

"Never two primaries": a node acts as primary only while its session is connected. On SUSPENDED it stops
acting at once (``acting`` is cleared from the kazoo thread itself); on RESUMED, within the same session,
its znode cannot have been taken over, so it acts again under the same epoch; on LOST the role is gone.

Everything but :meth:`suspend` runs on the dispatcher thread.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kazoo.exceptions import NoNodeError

from pvc_core.errors import PvcError
from pvc_core.log import get_logger
from pvc_core.nodes import CoordinatorState
from pvc_core.zk import paths, schema
from pvc_core.zk.session import Conflict, ZkSession, decode, encode

if TYPE_CHECKING:
    from pvc_core.host import Host
    from pvc_core.membership import Membership
    from pvc_core.plugins.hooks import Hooks


class CoordinatorElection:
    def __init__(
        self,
        host: Host,
        zk: ZkSession,
        hooks: Hooks,
        membership: Membership,
        handover_timeout: float,
    ) -> None:
        self.host = host
        self.zk = zk
        self.hooks = hooks
        self.membership = membership
        self.node = host.node
        self.handover_timeout = handover_timeout
        self.log = get_logger(node=self.node, component="election")
        self.state = CoordinatorState.SECONDARY if host.is_coordinator else CoordinatorState.CLIENT
        self.epoch = 0
        self.epoch_version = -1
        self._acting = threading.Event()
        self._holds_role = False  # this session owns the primary znode (acting or paused)
        self._handover_seen: tuple[int, float] | None = None  # (mzxid, first seen, monotonic)
        self._enabled = False
        # the kernel's own reactions to a change of role (cluster-level VM events), before the plugins'
        self.role_listeners: list[Callable[[bool], None]] = []

    @property
    def acting(self) -> bool:
        return self._acting.is_set()

    @property
    def holds_role(self) -> bool:
        """This session owns the primary znode (acting, or paused while its connection is suspended)."""
        return self._holds_role

    # -- entry points --------------------------------------------------------------------------------------

    def enable(self) -> None:
        """Start taking part (after the node is ``run``)."""
        self._enabled = True
        self.evaluate()

    def disable(self) -> None:
        self._enabled = False

    def suspend(self) -> None:
        """Connection lost: stop acting at once. Called on the kazoo thread; only clears a flag."""
        self._acting.clear()

    def resumed(self) -> None:
        """Same session back: if we still own the primary znode, act again under the same epoch."""
        if self._holds_role:
            found = self.zk.get(paths.PRIMARY)
            if found is not None and found[1].ephemeralOwner == self.zk.session_id:
                self._acting.set()
                self.log.info("primary_confirmed", epoch=self.epoch)
                self._set_state(CoordinatorState.PRIMARY)
            else:
                self._lose_role("primary znode gone after reconnect")
        self.evaluate()

    def lost(self) -> None:
        """Session expired: the ephemeral primary znode is gone with it."""
        self._acting.clear()
        if self._holds_role:
            self._lose_role("ZooKeeper session lost")

    def evaluate(self) -> None:
        """Look at the primary, the hand-over and the request znodes and act on what they say."""
        if not self._enabled or not self.host.is_coordinator or not self.zk.connected:
            return
        primary = self.zk.get(paths.PRIMARY)
        request = self._read(paths.REQUEST)
        if primary is not None:
            owner = decode(primary[0]) or {}
            if primary[1].ephemeralOwner == self.zk.session_id:
                if not self._holds_role:
                    # our takeover committed but its answer was lost with the connection: take up the role
                    self._adopt(int(owner.get("epoch", 0)))
                elif self.acting and request is not None:
                    self._serve_request(request[0], request[1])
                return
            if owner.get("node") == self.node and not self._holds_role:
                # a previous session of this very node still holds it (pvcd restarted or session renewed):
                # that session acts no more, so release the role now rather than after its timeout
                with contextlib.suppress(Conflict):
                    self.zk.delete(paths.PRIMARY, version=primary[1].version)
                self.log.info("released_stale_primary", previous_session=f"0x{primary[1].ephemeralOwner:x}")
                return  # the deletion fires the watch, which evaluates again
            if self._holds_role:
                self._lose_role(f"{owner.get('node')} holds the primary role")
            self._set_state(CoordinatorState.SECONDARY)
            return

        if self._holds_role:
            self._lose_role("primary znode gone")
        wait = self._handover_wait(request)
        if wait > 0:
            self.host.call_later(wait + 0.05, "election wait", self.evaluate)
            return
        self._takeover()

    # -- decisions -------------------------------------------------------------------------------------------

    def _read(self, path: str) -> tuple[dict[str, Any], Any] | None:
        found = self.zk.get(path)
        if found is None:
            return None
        return decode(found[0]) or {}, found[1]

    def _handover_wait(self, request: tuple[dict[str, Any], Any] | None) -> float:
        """How long this node should leave the role to someone else before contending (0: contend now)."""
        if request is not None and request[0].get("action") == "primary":
            target = request[0].get("node")
            if target == self.node:
                return 0.0
            if target in self.host.alive_nodes:
                return self._remaining(request[1].mzxid)
        handover = self._read(paths.HANDOVER)
        if handover is None:
            return 0.0
        data, stat = handover
        target, previous = data.get("to"), data.get("from")
        if target == self.node:
            return 0.0
        if target is not None and target in self.host.alive_nodes:
            return self._remaining(stat.mzxid)
        if target is None and previous == self.node:
            others = [n for n in self.host.config.core.coordinators if n != self.node and n in self.host.alive_nodes]
            return self._remaining(stat.mzxid) if others else 0.0
        return 0.0

    def _remaining(self, mzxid: int) -> float:
        now = time.monotonic()
        if self._handover_seen is None or self._handover_seen[0] != mzxid:
            self._handover_seen = (mzxid, now)
        return max(0.0, self._handover_seen[1] + self.handover_timeout - now)

    def _takeover(self) -> None:
        self._set_state(CoordinatorState.TAKEOVER)
        epoch_found = self.zk.get(paths.EPOCH)
        if epoch_found is None:
            self.zk.ensure(paths.EPOCH, b"0")
            epoch_found = self.zk.get(paths.EPOCH)
            assert epoch_found is not None
        epoch, epoch_stat = int(epoch_found[0].decode() or 0) + 1, epoch_found[1]
        transaction = self.zk.transaction()
        transaction.set_data(paths.EPOCH, str(epoch).encode(), version=epoch_stat.version)
        transaction.create(
            paths.PRIMARY,
            encode({"node": self.node, "epoch": epoch, "since": time.time()}),
            ephemeral=True,
        )
        handover = self.zk.exists(paths.HANDOVER)
        if handover is not None:
            transaction.delete(paths.HANDOVER, version=handover.version)
        request = self._read(paths.REQUEST)
        if request is not None and not self._request_for_another(request[0]):
            transaction.delete(paths.REQUEST, version=request[1].version)
        # a request naming another node stays: this primary serves it (hands over) as soon as it acts
        try:
            self.zk.commit(transaction, "take the primary role")
        except (Conflict, NoNodeError):
            self.log.info("takeover_lost_race")
            self._set_state(CoordinatorState.SECONDARY)
            return
        self._become_primary(epoch, epoch_stat.version + 1)

    def _request_for_another(self, request: dict[str, Any]) -> bool:
        return request.get("action") == "primary" and request.get("node") not in (None, self.node)

    def _adopt(self, epoch: int) -> None:
        found = self.zk.get(paths.EPOCH)
        if found is None or int(found[0].decode() or 0) != epoch:
            return  # the epoch moved on: that znode is stale and will go with its session
        self._become_primary(epoch, found[1].version)

    def _become_primary(self, epoch: int, epoch_version: int) -> None:
        self.epoch, self.epoch_version = epoch, epoch_version
        self._holds_role = True
        self._acting.set()
        self.log.info("primary", epoch=epoch)
        try:
            self._prepare_tree()
        except Exception:  # a plugin's schema failing must not leave a half-made primary
            self.log.exception("schema_preparation_failed", epoch=epoch)
        for listener in self.role_listeners:
            listener(True)
        self.hooks.become_primary(self.host, epoch)
        if self.acting:
            self._set_state(CoordinatorState.PRIMARY)
            # a hand-over request written while this node was still taking over found it not yet acting:
            # serve it now rather than leave it until some other change wakes the election up
            request = self._read(paths.REQUEST)
            if request is not None:
                self._serve_request(request[0], request[1])

    def _prepare_tree(self) -> None:
        """As the new primary: create plugins' subtrees and apply pending schema migrations."""
        schema.prepare(self.zk, [schema.CORE_SCHEMA, *self.hooks.zk_schemas(), *self.host.drivers.schemas()], self.log)

    def _serve_request(self, request: dict[str, Any], stat: Any) -> None:
        action, target = request.get("action"), request.get("node")
        if action == "secondary" and target == self.node:
            self.relinquish(to=None, request_version=stat.version)
        elif action == "primary" and target != self.node and self._alive(target):
            self.relinquish(to=target, request_version=stat.version)
        else:
            # already satisfied (primary asked for itself, secondary asked for another) or unservable
            self.log.info("request_dropped", action=action, target=target)
            with contextlib.suppress(Conflict):
                self.zk.delete(paths.REQUEST, version=stat.version)

    def _alive(self, node: Any) -> bool:
        """``node`` has a live session: asked of ZooKeeper when this node's view lacks it (a node that just
        started may not be in the view yet, and a request for it must not be dropped for that)."""
        if not isinstance(node, str) or not node:
            return False
        return node in self.host.alive_nodes or self.zk.exists(paths.liveness(node)) is not None

    def relinquish(self, to: str | None, request_version: int | None = None) -> None:
        """Give up the primary role: stop primary work first, then release the znode in one transaction."""
        if not self._holds_role:
            return
        self._set_state(CoordinatorState.RELINQUISH)
        self._acting.clear()
        self._tell_role_lost()
        transaction = self.zk.transaction()
        primary = self.zk.exists(paths.PRIMARY)
        if primary is not None and primary.ephemeralOwner == self.zk.session_id:
            transaction.delete(paths.PRIMARY, version=primary.version)
        handover = encode({"from": self.node, "to": to, "epoch": self.epoch})
        if self.zk.exists(paths.HANDOVER) is None:
            transaction.create(paths.HANDOVER, handover)
        else:
            transaction.set_data(paths.HANDOVER, handover)
        if request_version is not None:
            transaction.delete(paths.REQUEST, version=request_version)
        try:
            self.zk.commit(transaction, "release the primary role")
        except Conflict as exc:
            # e.g. the request was rewritten meanwhile: release the role alone; the watch brings us back
            self.log.warning("relinquish_conflict", error=str(exc))
            if primary is not None and primary.ephemeralOwner == self.zk.session_id:
                with contextlib.suppress(Conflict):
                    self.zk.delete(paths.PRIMARY, version=primary.version)
        self._holds_role = False
        self.log.info("relinquished", epoch=self.epoch, to=to)
        self._set_state(CoordinatorState.SECONDARY)

    def _lose_role(self, why: str) -> None:
        self._acting.clear()
        self._holds_role = False
        self.log.warning("primary_role_lost", epoch=self.epoch, reason=why)
        self._tell_role_lost()
        self._set_state(CoordinatorState.SECONDARY)

    def _tell_role_lost(self) -> None:
        for listener in self.role_listeners:
            listener(False)
        self.hooks.become_secondary(self.host, self.epoch)

    def _set_state(self, state: CoordinatorState) -> None:
        if state == self.state:
            return
        self.state = state
        try:
            self.membership.set_coordinator_state(state)
        except PvcError as exc:
            self.log.warning("coordinator_state_not_written", state=state.value, error=str(exc))
