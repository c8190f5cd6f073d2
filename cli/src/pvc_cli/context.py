"""What every command needs: the connection chosen for this run."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from pvc_cli.connections import resolve

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

        with Cluster.connect(target.zookeeper, timeout=target.timeout) as cluster:
            yield cluster
