"""Cluster-level VM events: changes of the VM summary buckets become ``pvc_vm_*`` hook calls on the primary.

The primary watches the 64 summary buckets (``/domain_summaries/NN``, where every VM record has a copy
written in the same transaction as the record) from the moment it takes the role until it gives it up,
and keeps the last records it saw of each: the first look at a bucket is its baseline (what happened
before is not replayed), and only while the node acts as primary are the hooks called. Each bucket change
is decoded once and compared with the last: a new UUID is a definition, a gone one a removal, a new name
a rename, a new definition (:meth:`VmRecord.definition`) a modification. Runtime changes (state, node,
migrations) call nothing here: the owning node's VM manager handles those.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from pvc_core.vms.store import bucket_records
from pvc_core.zk import paths

if TYPE_CHECKING:
    from pvc_core.dispatch import WatchHandle, WatchSet
    from pvc_core.host import Host
    from pvc_core.plugins.hooks import Hooks
    from pvc_core.vms.model import VmRecord


class VmEvents:
    def __init__(self, host: Host, hooks: Hooks, watches: WatchSet | None = None) -> None:
        self.host = host
        self.hooks = hooks
        self.watches = watches
        self._buckets: dict[str, dict[str, VmRecord]] = {}
        self._handles: list[WatchHandle] = []

    def role_changed(self, primary: bool) -> None:
        """Dispatcher thread: watch the buckets while this node is primary, and only then."""
        if primary and not self._handles and self.watches is not None:
            self._buckets.clear()
            self._handles = [
                self.watches.data(path, "vm summaries", functools.partial(self.on_bucket, path))
                for path in paths.summary_buckets()
            ]
        elif not primary:
            for handle in self._handles:
                handle.cancel()
            self._handles = []
            self._buckets.clear()

    def on_bucket(self, path: str, data: bytes | None, _stat: Any = None) -> None:
        """Dispatcher thread: a bucket was armed (the first call: its baseline) or changed."""
        current = {r.uuid: r for r in bucket_records(data)} if data else {}
        previous = self._buckets.get(path)
        self._buckets[path] = current
        if previous is None or not self.host.is_primary:
            return
        for uuid, new in current.items():
            old = previous.get(uuid)
            if old is None:
                self.hooks.vm_defined(self.host, new)
                continue
            if old.name != new.name:
                self.hooks.vm_renamed(self.host, new, old.name)
            if old.definition() != new.definition():
                self.hooks.vm_modified(self.host, old, new)
        for uuid, old in previous.items():
            if uuid not in current:
                self.hooks.vm_removed(self.host, old)
