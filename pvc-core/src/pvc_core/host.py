"""The handle a plugin gets in every hook: this node, its config, its ZooKeeper session, its role."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from kazoo.client import TransactionRequest

from pvc_core.errors import InvalidRequest
from pvc_core.zk import paths

if TYPE_CHECKING:
    from pvc_core.config import LoadedConfig
    from pvc_core.dispatch import Dispatcher, WatchSet
    from pvc_core.election import CoordinatorElection
    from pvc_core.plugins.drivers import Drivers
    from pvc_core.roles import Driver
    from pvc_core.zk.session import ZkSession


class NotPrimary(InvalidRequest):
    """This node does not (or can no longer confirm it does) act as primary coordinator."""


class Host:
    def __init__(
        self,
        config: LoadedConfig,
        zk: ZkSession,
        dispatcher: Dispatcher,
        drivers: Drivers,
    ) -> None:
        self.config = config
        self.node = config.core.node
        self.zk = zk
        self.drivers = drivers
        self._dispatcher = dispatcher
        self._election: CoordinatorElection | None = None
        self._watches: WatchSet | None = None
        self.alive_nodes: frozenset[str] = frozenset()
        # per-node objects plugins keep between hooks (one Host per pvcd), by plugin name
        self.state: dict[str, Any] = {}

    def attach_election(self, election: CoordinatorElection) -> None:
        self._election = election

    def attach_watches(self, watches: WatchSet) -> None:
        self._watches = watches

    @property
    def watches(self) -> WatchSet:
        """Add watches at run time (handlers run on the dispatcher thread; cancel with the handle)."""
        if self._watches is None:
            raise InvalidRequest("watches are available from pvc_daemon_start on")
        return self._watches

    @property
    def is_coordinator(self) -> bool:
        return self.config.core.is_coordinator

    @property
    def is_primary(self) -> bool:
        """True only while this node holds the primary role *and* can confirm it (session connected)."""
        return self._election is not None and self._election.acting

    @property
    def primary_epoch(self) -> int | None:
        """The epoch this node holds as primary (None when it is not acting as primary)."""
        if self._election is None or not self._election.acting:
            return None
        return self._election.epoch

    @property
    def held_primary_epoch(self) -> int | None:
        """The epoch of the primary role this node holds, even while its connection is suspended (it then
        does not act on it: see ``primary_epoch``). None once the role is lost."""
        if self._election is None or not self._election.holds_role:
            return None
        return self._election.epoch

    def primary_transaction(self) -> TransactionRequest:
        """A ZooKeeper transaction that only commits while this node's primary epoch is current.

        Use it for every write only the primary may make (marking a node dead, fencing, recovery): if
        another node became primary meanwhile, the commit fails instead of acting on stale authority.
        """
        election = self._election
        if election is None or not election.acting:
            raise NotPrimary(f"node {self.node} is not the primary coordinator")
        transaction = self.zk.transaction()
        transaction.check(paths.EPOCH, election.epoch_version)
        return transaction

    def driver(self, role: str) -> Driver | None:
        return self.drivers.get(role)

    def call_later(self, delay: float, event: str, job: Callable[[], None]) -> None:
        """Run ``job`` on the dispatcher thread after ``delay`` seconds."""
        self._dispatcher.call_later(delay, event, job)

    def post(self, event: str, job: Callable[[], Any]) -> None:
        """Run ``job`` on the dispatcher thread soon (from a plugin's own worker thread, say)."""
        self._dispatcher.post(event, job)
