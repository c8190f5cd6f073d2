"""What every command needs: the connection chosen for this run."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from pvc_cli.connections import resolve

if TYPE_CHECKING:
    from pvc_core.client import Cluster


class CliContext:
    def __init__(self, connection: str | None) -> None:
        self.connection = connection

    @contextmanager
    def cluster(self) -> Iterator[Cluster]:
        """A client for the chosen connection, closed when the command is done."""
        from pvc_core.client import Cluster

        target = resolve(self.connection)
        with Cluster.connect(target.zookeeper, timeout=target.timeout) as cluster:
            yield cluster
