"""One kazoo session per process, with bounded calls and explicit session-state handling.

Every request goes through the ``*_async`` API and waits with a timeout: a plain kazoo call blocks forever
while the ensemble has no quorum. The connection retries forever with a short capped backoff, so that a
session survives a whole-ensemble outage shorter than its timeout and reconnects within a fraction of a
second after quorum returns.

Session states are reported to one listener as :class:`SessionEvent` values; the listener runs on a kazoo
thread and must only record or enqueue.
"""

from __future__ import annotations

import contextlib
import enum
import json
import threading
from collections.abc import Callable, Sequence
from typing import Any

from kazoo.client import KazooClient, KazooState, TransactionRequest
from kazoo.exceptions import (
    BadVersionError,
    KazooException,
    NoAuthError,
    NodeExistsError,
    NoNodeError,
    NotEmptyError,
    ZookeeperError,
)
from kazoo.handlers.threading import KazooTimeoutError
from kazoo.protocol.states import ZnodeStat

# Conflict (a conditional write lost a race: version changed, node gone) and AlreadyExists (a create found
# the node) are the error taxonomy's 409s; re-exported here, where the writes that raise them are
from pvc_core.errors import AlreadyExists as AlreadyExists  # noqa: PLC0414 - an explicit re-export (mypy)
from pvc_core.errors import Conflict as Conflict  # noqa: PLC0414 - an explicit re-export (mypy)
from pvc_core.errors import Forbidden, ZooKeeperUnavailable
from pvc_core.zk.security import SECURITY, ClusterAcls, Credential, TlsFiles

RETRY_FOREVER = {"max_tries": -1, "delay": 0.1, "backoff": 1.5, "max_delay": 1.0}


class SessionEvent(enum.Enum):
    SUSPENDED = "suspended"  # connection lost; the session may still be alive: pause writes that need it
    RESUMED = "resumed"  # reconnected within the same session: ephemerals and watches are intact
    LOST = "lost"  # the session expired: ephemerals are gone
    RENEWED = "renewed"  # connected again with a new session after LOST: re-create ephemerals, re-watch


def encode(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def decode(data: bytes | None) -> Any:
    if not data:
        return None
    return json.loads(data)


class ZkSession:
    """A kazoo client with timeouts on every call and session events translated for PVC."""

    def __init__(
        self,
        hosts: str,
        session_timeout: float = 3.0,
        connect_timeout: float = 15.0,
        operation_timeout: float = 5.0,
        listener: Callable[[SessionEvent], None] | None = None,
        read_only: bool = False,
        credential: Credential | None = None,
        tls: TlsFiles | None = None,
    ) -> None:
        self.hosts = hosts
        self.credential = credential
        self.tls = tls
        self.acls: ClusterAcls | None = None  # the cluster's ACLs once read (None: an open tree)
        self.connect_timeout = connect_timeout
        self.operation_timeout = operation_timeout
        self._listener = listener
        self._lost = False
        # what this session asked of ZooKeeper: requests sent, and round trips waited for (a pipelined batch
        # of requests is one round trip); the benchmarks read these
        self.requests = 0
        self.round_trips = 0
        self._lock = threading.Lock()
        self.client = KazooClient(
            hosts=hosts,
            timeout=session_timeout,
            connection_retry=dict(RETRY_FOREVER),
            command_retry={"max_tries": 0},
            read_only=read_only,
            auth_data=[("digest", credential.auth)] if credential is not None else None,
            **(tls.check().kazoo() if tls is not None else {}),
        )
        self.client.add_listener(self._on_state)

    # -- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> None:
        try:
            self.client.start(timeout=self.connect_timeout)
        except KazooTimeoutError as exc:
            self.client.stop()
            self.client.close()
            hint = (
                " over TLS (are these its secure client ports, and did the CA in "
                f"{self.tls.ca_file} sign its certificate?)"
                if self.tls is not None
                else ""
            )
            raise ZooKeeperUnavailable(
                f"cannot reach ZooKeeper at {self.hosts} within {self.connect_timeout:g}s{hint}"
            ) from exc
        try:
            self.load_acls()
        except BaseException:
            self.stop()
            raise

    def load_acls(self) -> None:
        """Read the cluster's identities (``/security``): from now on every znode this session creates
        carries the cluster's ACL. An open tree (no ``/security``) keeps ZooKeeper's open ACL."""
        try:
            found = self.get(SECURITY)
        except Forbidden:
            who = self._who("no ZooKeeper credential")
            raise Forbidden(
                f"the cluster at {self.hosts} is secured and this connection has {who} that may read it "
                "(give the node config's zookeeper.credential_file, or the connection's --credential-file)"
            ) from None
        self.use_acls(ClusterAcls.from_json(found[0]) if found is not None else None)

    def use_acls(self, acls: ClusterAcls | None) -> None:
        """Create every znode from now on with ``acls`` (None: ZooKeeper's open ACL): ``create`` picks the ACL
        of the path, and a transaction's ``create`` takes the normal one (kazoo's default ACL)."""
        self.acls = acls
        self.client.default_acl = acls.normal if acls is not None else None

    def _who(self, nobody: str = "no credential") -> str:
        """This session's identity, as an error names it."""
        return f"credential '{self.credential.user}'" if self.credential is not None else nobody

    def stop(self) -> None:
        """Close the session (its ephemerals go at once) and release the connection."""
        try:
            self.client.stop()
        finally:
            self.client.close()

    @property
    def session_id(self) -> int | None:
        client_id = self.client.client_id
        return client_id[0] if client_id else None

    @property
    def connected(self) -> bool:
        return bool(self.client.connected)

    def _on_state(self, state: str) -> None:
        # Runs on a kazoo thread: translate, hand over, nothing else.
        if state == KazooState.SUSPENDED:
            event = SessionEvent.SUSPENDED
        elif state == KazooState.LOST:
            with self._lock:
                self._lost = True
            event = SessionEvent.LOST
        else:
            with self._lock:
                event = SessionEvent.RENEWED if self._lost else SessionEvent.RESUMED
                self._lost = False
        if self._listener is not None:
            self._listener(event)

    # -- bounded requests ------------------------------------------------------------------------------

    def wait(self, result: Any, what: str, timeout: float | None = None) -> Any:
        """Wait for an async result; translate timeouts and connection failures into one-line errors."""
        limit = self.operation_timeout if timeout is None else timeout
        self.requests += 1
        self.round_trips += 1
        try:
            return result.get(timeout=limit)
        except KazooTimeoutError as exc:
            raise ZooKeeperUnavailable(f"ZooKeeper did not answer {what} within {limit:g}s") from exc
        except (NoNodeError, NodeExistsError, BadVersionError, NotEmptyError):
            raise
        except NoAuthError as exc:
            raise Forbidden(f"ZooKeeper refused {what}: not allowed with {self._who()}") from exc
        except (ZookeeperError, KazooException) as exc:
            name = type(exc).__name__
            raise ZooKeeperUnavailable(f"ZooKeeper request {what} failed: {name}") from exc

    def get(self, path: str, watch: Callable[[Any], None] | None = None) -> tuple[bytes, ZnodeStat] | None:
        """The znode's data and stat, None when absent; ``watch`` is called once (on a kazoo thread: it must
        only hand over) at the next change of the znode."""
        try:
            data, stat = self.wait(self.client.get_async(path, watch=watch), f"get {path}")
        except NoNodeError:
            return None
        return data, stat

    def get_json(self, path: str) -> Any:
        found = self.get(path)
        return decode(found[0]) if found else None

    def exists(self, path: str) -> ZnodeStat | None:
        stat: ZnodeStat | None = self.wait(self.client.exists_async(path), f"exists {path}")
        return stat

    def children(self, path: str) -> list[str]:
        try:
            names: list[str] = self.wait(self.client.get_children_async(path), f"children of {path}")
        except NoNodeError:
            return []
        return sorted(names)

    def get_many(self, paths: Sequence[str]) -> list[tuple[bytes, ZnodeStat] | None]:
        """Read many znodes pipelined: one round trip's latency, not one per path."""
        pending = [self.client.get_async(path) for path in paths]
        results: list[tuple[bytes, ZnodeStat] | None] = []
        if pending:  # counted as one round trip: every request is on the wire before the first answer is read
            self.round_trips -= len(pending) - 1
        for path, result in zip(paths, pending, strict=True):
            try:
                data, stat = self.wait(result, f"get {path}")
            except NoNodeError:
                results.append(None)
            else:
                results.append((data, stat))
        return results

    def acl_for(self, path: str) -> list[Any] | None:
        """The ACL a znode at ``path`` is created with (None: ZooKeeper's open ACL, on an open tree); pass it to
        a transaction's ``create`` of a secret (a transaction's creates otherwise take the normal ACL)."""
        return self.acls.for_path(path) if self.acls is not None else None

    def create(
        self, path: str, value: bytes = b"", ephemeral: bool = False, makepath: bool = False, sequence: bool = False
    ) -> str:
        """Create ``path`` and return the path created (with its sequence number when ``sequence``)."""
        acl = self.acl_for(path)
        try:
            created: str = self.wait(
                self.client.create_async(
                    path, value, acl=acl, ephemeral=ephemeral, sequence=sequence, makepath=makepath
                ),
                f"create {path}",
            )
        except NodeExistsError as exc:
            raise AlreadyExists(f"{path} already exists") from exc
        return created

    def ensure(self, path: str, value: bytes = b"") -> None:
        """Create a persistent znode (and its parents) unless it exists."""
        if self.exists(path) is None:
            with contextlib.suppress(Conflict):
                self.create(path, value, makepath=True)

    def set(self, path: str, value: bytes, version: int = -1) -> ZnodeStat:
        try:
            stat: ZnodeStat = self.wait(self.client.set_async(path, value, version), f"set {path}")
        except BadVersionError as exc:
            raise Conflict(f"{path} changed under us (expected version {version})") from exc
        except NoNodeError as exc:
            raise Conflict(f"{path} does not exist") from exc
        return stat

    def put(self, path: str, value: bytes, attempts: int = 10) -> None:
        """Make ``path`` hold ``value`` whether or not it exists (created with its parents; the last write
        wins), even while another client creates or deletes it meanwhile."""
        for _ in range(attempts):
            try:
                if self.exists(path) is None:
                    self.create(path, value, makepath=True)
                else:
                    self.set(path, value)
                return
            except Conflict:  # created or deleted between the look and the write: look again
                continue
        raise Conflict(f"{path} kept being created and deleted; gave up after {attempts} attempts")

    def delete(self, path: str, version: int = -1, recursive: bool = False) -> None:
        if recursive:
            for child in self.children(path):
                self.delete(f"{path.rstrip('/')}/{child}", recursive=True)
        try:
            self.wait(self.client.delete_async(path, version), f"delete {path}")
        except NoNodeError:
            return
        except BadVersionError as exc:
            raise Conflict(f"{path} changed under us (expected version {version})") from exc

    def transaction(self) -> TransactionRequest:
        return self.client.transaction()

    def update_json(
        self,
        path: str,
        change: Callable[[Any], Any],
        what: str,
        transaction_factory: Callable[[], TransactionRequest] | None = None,
        attempts: int = 20,
    ) -> Any:
        """Compare-and-set the JSON document at ``path``: ``change(current)`` returns the new document, or
        None (or the same) to leave it. Read again and retried when someone else wrote it meanwhile. With
        ``transaction_factory`` (e.g. ``host.primary_transaction``) the write is made in that transaction,
        so its checks (the primary epoch) hold at the moment of the write. Returns the document now stored,
        None when ``path`` does not exist."""
        for _ in range(attempts):
            found = self.get(path)
            if found is None:
                return None
            current = decode(found[0])
            new = change(current)
            if new is None or new == current:
                return current
            try:
                if transaction_factory is None:
                    self.set(path, encode(new), version=found[1].version)
                else:
                    transaction = transaction_factory()
                    transaction.set_data(path, encode(new), version=found[1].version)
                    self.commit(transaction, f"update {what}")
            except Conflict:
                continue
            return new
        raise Conflict(f"{what} kept changing; gave up after {attempts} attempts")

    def commit(self, transaction: TransactionRequest, what: str) -> list[Any]:
        """Commit atomically; a failed check or create raises :class:`Conflict` naming the failed step."""
        results: list[Any] = self.wait(transaction.commit_async(), what)
        failures = [r for r in results if isinstance(r, Exception) and type(r).__name__ != "RolledBackError"]
        if any(isinstance(r, NoAuthError) for r in failures):
            raise Forbidden(f"ZooKeeper refused {what}: not allowed with {self._who()}")
        if failures:
            raise Conflict(f"{what}: {type(failures[0]).__name__}")
        return results
