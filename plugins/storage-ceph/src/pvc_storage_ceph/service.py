"""The plugin's work on one node: what it offers VMs, and on the primary the listings, status and fencing.

One background thread per pvcd looks at Ceph every ``refresh_interval`` seconds: the pools this node can
reach (offered to VMs as ``pool/*``), and on the primary Ceph's status (written when it changed) and,
every ``index_interval``, the volume listings (rewritten only where they differ). Nothing here runs on
the dispatcher thread except quick reads of what the thread found.
"""

from __future__ import annotations

import contextlib
import threading
import time
from typing import TYPE_CHECKING, Any

from pvc_core.errors import Conflict, InvalidRequest, PvcError, StartRefused, Timeout, error_class
from pvc_core.log import get_logger
from pvc_core.zk.session import decode, encode
from pvc_storage_ceph.driver import CephStorage
from pvc_storage_ceph.index import VOLUMES, Index
from pvc_storage_ceph.osds import NodeOsds, jobs_of

if TYPE_CHECKING:
    from pvc_core.host import Host

PLUGIN = "storage-ceph"
FAULT = "storage"  # the fault's name in pvc cluster status


class StorageService:
    def __init__(self, host: Host) -> None:
        driver = host.driver("storage")
        if not isinstance(driver, CephStorage):
            raise StartRefused("the storage-ceph plugin needs the ceph storage driver (drivers: {storage: ceph})")
        self.host = host
        self.driver = driver
        self.settings = driver.settings
        self.index = Index(host.zk)
        self.osds = NodeOsds(host, driver)
        self._jobs_seen: set[str] = set()
        self.log = get_logger(plugin=PLUGIN, node=host.node)
        self.pools_offered: tuple[str, ...] = ()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._indexed_at = 0.0
        self._usage_at = 0.0
        self._last_usage: dict[str, Any] = {}
        self._reachable = True
        self._unreachable_since = 0.0

    # -- lifecycle ------------------------------------------------------------------------------------------

    def start(self) -> None:
        self.refresh_offers()
        self._thread = threading.Thread(target=self._run, name="storage-ceph", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=self.settings.timeout + 1)

    def _run(self) -> None:
        self.keep_osds()
        while not self._stop.wait(self.settings.refresh_interval):
            self.refresh_offers()
            self.keep_osds()
            if self.host.is_primary:
                self.look()

    def keep_osds(self) -> None:
        try:
            started = self.osds.keep_running()
        except PvcError as exc:
            self.log.warning("osd_start_failed", reason=exc.message)
            return
        if started:
            self.log.info("osds_started", osds=started)

    def resync_and_look(self) -> None:
        """A new primary's first look: the listings at once, then the status."""
        self._indexed_at = 0.0
        self.look()

    def look(self) -> None:
        """The primary's periodic look: status on change, Ceph's health as a fault; listings when due."""
        try:
            self.publish_status()
            self.report_health(self.index.status())
            if time.monotonic() - self._indexed_at >= self.settings.index_interval:
                self.resync_index()
        except PvcError as exc:
            self.log.warning("storage_look_failed", reason=exc.message)
            self._fault(f"Ceph does not answer the primary: {exc.message}")

    def report_health(self, status: dict[str, Any]) -> None:
        """Ceph's warnings and errors as the fault ``storage`` in ``pvc cluster status`` (cleared when ok)."""
        if status.get("health", "ok") == "ok":
            self._fault(None)
            return
        checks = "; ".join(status.get("checks", [])) or "no details"
        self._fault(f"Ceph is HEALTH_{str(status.get('health')).upper()}: {checks}")

    def _fault(self, message: str | None) -> None:
        try:
            if message is None:
                self.host.clear_fault(FAULT)
            else:
                self.host.raise_fault(FAULT, message)
        except PvcError as exc:  # no longer primary, or ZooKeeper away: the next look tries again
            self.log.info("storage_fault_not_written", reason=exc.message)

    # -- what this node offers VMs --------------------------------------------------------------------------

    def refresh_offers(self) -> None:
        """Offer the pools Ceph lists. When Ceph does not answer (a monitor election, a manager taking over:
        seconds), the last pools stay offered for ``offer_grace``; only then does the node stop offering
        them, so that a blip never makes every node look unable to host a VM."""
        try:
            pools = tuple(p.name for p in self.driver.pools())
        except PvcError as exc:
            now = time.monotonic()
            if self._reachable:
                self.log.warning("storage_unreachable", reason=exc.message)
                self._unreachable_since = now
            self._reachable = False
            if now - self._unreachable_since >= self.settings.offer_grace:
                self.pools_offered = ()
            return
        if not self._reachable:
            self.log.info("storage_reachable")
        self._reachable = True
        self.pools_offered = pools

    def offers(self) -> dict[str, list[str]]:
        if self._thread is None and not self.pools_offered:  # asked before the first look (pvcd registering)
            self.refresh_offers()
        return {"volume": [f"{pool}/*" for pool in self.pools_offered]}

    # -- listings and status (the primary) --------------------------------------------------------------------

    def refresh_pools(self) -> None:
        self.index.write_pools(self.driver.pools())
        self.refresh_offers()

    def resync_index(self) -> None:
        """Rewrite the listings where Ceph says otherwise (volumes made or changed behind PVC's back)."""
        pools = self.driver.pools()
        self.index.write_pools(pools)
        names = {p.name for p in pools}
        for pool in names:
            self.index.write_pool_volumes(pool, self.driver.volumes(pool))
        for stale in set(self.host.zk.children(VOLUMES)) - names:
            self.index.forget_pool(stale)
        self._indexed_at = time.monotonic()

    def publish_status(self) -> bool:
        """Write Ceph's status when its health, checks, PG states, OSD states or flags changed; the
        capacity figures are refreshed at most every ``usage_interval``."""
        status = self.driver.status()
        usage_keys = ("total_bytes", "used_bytes", "available_bytes")
        pools_now = {p["name"] for p in self.index.pools()}
        due = time.monotonic() - self._usage_at >= self.settings.usage_interval
        if due or not self._last_usage or pools_now != set(self._last_usage.get("pools", {})):
            self._last_usage = {k: status[k] for k in usage_keys}
            self._last_usage["pools"] = {
                p.name: {"stored_bytes": p.stored_bytes, "available_bytes": p.available_bytes, "objects": p.objects}
                for p in self.driver.pools()
            }
            self._usage_at = time.monotonic()
        osds = [{k: o[k] for k in ("id", "node", "up", "in")} for o in self.driver.osds()]
        document = {**{k: v for k, v in status.items() if k not in usage_keys}, **self._last_usage, "osd_states": osds}
        return self.index.write_status(document)

    # -- fencing -------------------------------------------------------------------------------------------------

    def fence(self, node: str) -> list[str]:
        """Cut ``node``'s clients off and free the locks of its VMs' volumes (after its power fence)."""
        volumes = sorted({v.ref for vm in self.host.cluster.vms.list(node=node) for v in vm.volumes})
        blocked = self.driver.fence_client(node, volumes)
        self.log.warning(
            "storage_fenced", fenced_node=node, blocklisted=blocked, volumes=volumes, seconds=self.driver.fence_timings
        )
        return blocked

    def readmit(self, node: str) -> None:
        try:
            lifted = self.driver.readmit_client(node)
        except PvcError as exc:
            self.log.error("storage_readmit_failed", readmitted_node=node, reason=exc.message)
            return
        if lifted:
            self.log.info("storage_readmitted", readmitted_node=node, lifted=lifted)

    # -- OSD jobs: asked by the primary, carried out by the node the OSD is on --------------------------------

    def node_job(self, node: str, job: dict[str, Any], timeout: float) -> Any:
        """The primary's side: ask ``node`` to carry out ``job`` and wait for its outcome."""
        view = next((v for v in self.host.cluster.nodes() if v.name == node), None)
        if view is None:
            raise InvalidRequest(f"no node named '{node}'", field="node")
        if not view.alive or not any(p.name == PLUGIN for p in view.record.plugins):
            raise Conflict(f"node {node} is not running pvcd with the storage-ceph plugin")
        path = self.host.zk.create(
            f"{jobs_of(node)}/job-", encode({**job, "state": "pending"}), makepath=True, sequence=True
        )
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                value = self.host.zk.get_json(path) or {}
                if value.get("state") == "done":
                    return value.get("result")
                if value.get("state") == "error":
                    error = value.get("error") or {}
                    raise error_class(error.get("code"))(str(error.get("message") or f"{node} failed the job"))
                time.sleep(0.1)
            raise Timeout(f"node {node} did not carry out the OSD job within {timeout:g}s")
        finally:
            self.host.zk.delete(path)

    def on_jobs(self, names: list[str]) -> None:
        """Dispatcher thread (this node's job folder changed): each new job in a worker."""
        self._jobs_seen &= set(names)
        for name in names:
            if name not in self._jobs_seen:
                self._jobs_seen.add(name)
                path = f"{jobs_of(self.host.node)}/{name}"
                threading.Thread(target=self._take_job, args=(path,), name="osd-job", daemon=True).start()

    def _take_job(self, path: str) -> None:
        zk = self.host.zk
        try:
            found = zk.get(path)
            if found is None:
                return
            job = decode(found[0]) or {}
            if job.get("state") != "pending":
                return
            zk.set(path, encode({**job, "state": "running"}), version=found[1].version)
        except PvcError:
            return  # taken, or the primary gave up
        try:
            outcome: dict[str, Any] = {"state": "done", "result": self.osds.carry_out(job)}
        except PvcError as exc:
            outcome = {"state": "error", "error": {"code": exc.code, "message": exc.message}}
        except Exception as exc:
            self.log.exception("osd_job_failed")
            outcome = {"state": "error", "error": {"code": "error", "message": f"{type(exc).__name__}: {exc}"}}
        with contextlib.suppress(PvcError):  # the primary gave up waiting
            zk.set(path, encode(outcome))
