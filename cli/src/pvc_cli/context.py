"""What every command needs: the connection chosen for this run."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from pvc_cli.connections import Connection, resolve
from pvc_cli.errors import CliError

if TYPE_CHECKING:
    from pvc_core.client import ClusterClient


class CliContext:
    def __init__(self, connection: str | None) -> None:
        self.connection = connection

    @contextmanager
    def cluster(self) -> Iterator[ClusterClient]:
        """A client for the chosen connection, closed when the command is done: direct to ZooKeeper, or
        through the API (the same calls, the same answers: both satisfy :class:`ClusterClient`)."""
        target = resolve(self.connection)
        if target.api:
            from pvc_cli.remote import RemoteCluster

            remote = RemoteCluster(target.api, target.api_key(), target.timeout, target.cafile or None)
            yield remote
            return
        from pvc_core.client import Cluster

        with Cluster.connect(
            target.zookeeper,
            timeout=target.timeout,
            credential=target.zookeeper_credential(),
            tls=target.zookeeper_tls(),
        ) as cluster:
            yield cluster

    def direct(self) -> Connection:
        """The chosen connection, which must be a direct ZooKeeper one (``pvc cluster init``)."""
        target = resolve(self.connection)
        if target.api:
            raise CliError(f"this command needs a direct ZooKeeper connection, and '{target.name}' is the API")
        return target
