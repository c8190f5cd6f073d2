"""Cluster-level VM events: changes of the VM summary buckets become ``pvc_vm_*`` hook calls on the primary.

Every coordinator watches the 64 summary buckets (``/domain_summaries/NN``, where every VM record has a
copy written in the same transaction as the record) and keeps the last records it saw of each, so a new
primary starts from a current view; only the node acting as primary calls the hooks. Each bucket change
is decoded once and compared with the last: a new UUID is a definition, a gone one a removal, a new name
a rename, a new definition (:meth:`VmRecord.definition`) a modification. Runtime changes (state, node,
migrations) call nothing here: the owning node's VM manager handles those.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pvc_core.vms.store import bucket_records

if TYPE_CHECKING:
    from pvc_core.host import Host
    from pvc_core.plugins.hooks import Hooks
    from pvc_core.vms.model import VmRecord


class VmEvents:
    def __init__(self, host: Host, hooks: Hooks) -> None:
        self.host = host
        self.hooks = hooks
        self._buckets: dict[str, dict[str, VmRecord]] = {}

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
