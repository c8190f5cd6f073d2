"""Builtin plugin ``builtin.vm-manager``: each node carries out what is asked of the VMs it owns.

Clients write a VM's desired state (and take its operation lock); the node that owns the VM (its
``/placement/NODE`` index entry) reconciles towards it with its compute driver, in worker threads, and
writes back what it observed, clearing the lock when the VM settles. The source node of a migration is the
one that runs the VM: it migrates it out (live, or shut down here and started there, as the VM's migration
method allows). A node's flush and return to ready are ``builtin.node-flush``'s; console requests are
``builtin.vm-console``'s.

Hypervisor-agnostic: every hypervisor action goes through the ``compute`` role. Without a compute driver
the plugin stays idle.
"""

from __future__ import annotations

import functools
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from xml.etree import ElementTree

from pvc_core import hookimpl, limits
from pvc_core.builtin.vm_settings import SECTION, VmSettings, vm_settings
from pvc_core.config import ConfigSection
from pvc_core.dispatch import WatchHandle
from pvc_core.errors import PvcError, Timeout
from pvc_core.host import Host
from pvc_core.log import get_logger
from pvc_core.nodes import DomainState, read_record
from pvc_core.roles.compute import RUNNING_STATES, ComputeDriver, ComputeError
from pvc_core.vms import store
from pvc_core.vms.model import MIGRATING, MigrationMethod, Operation, VmNetwork, VmRecord, VmState
from pvc_core.waiting import poll
from pvc_core.zk import paths
from pvc_core.zk.session import encode

PVC_CONTRACT = ">=2.0,<3"

PLUGIN = "builtin.vm-manager"


class VmManager:
    def __init__(self, host: Host, driver: ComputeDriver, settings: VmSettings) -> None:
        self.host = host
        self.zk = host.zk
        self.node = host.node
        self.driver = driver
        self.settings = settings
        self.log = get_logger(node=self.node, plugin=PLUGIN)
        self.pool = ThreadPoolExecutor(max_workers=settings.workers, thread_name_prefix="pvc-vm")
        self._lock = threading.Lock()
        self._busy: set[str] = set()
        self._dirty: set[str] = set()
        self._watched: dict[str, WatchHandle] = {}
        self._prepared_in: set[str] = set()  # VMs prepared here for an incoming migration not yet running here
        self._interfaces: dict[str, tuple[VmNetwork, ...]] = {}  # what each VM running here has, for hot-plug
        self._seen_running: set[str] = set()  # VMs this pvcd saw run here: gone later, they stopped here
        self._stopping = threading.Event()

    # -- lifecycle ----------------------------------------------------------------------------------------

    def start(self) -> None:
        self.pool.submit(self.adopt)  # hypervisor calls stay off the dispatcher thread
        self.host.watches.children(paths.placement(self.node), "vm placement", self.on_placement)
        self.host.call_later(self.settings.resync_interval, "vm resync", self.resync)

    def stop(self) -> None:
        self._stopping.set()
        for handle in self._watched.values():
            handle.cancel()
        self.pool.shutdown(wait=True, cancel_futures=True)

    def adopt(self) -> None:
        """VMs already running here (pvcd restarted): record them as running, never restart them."""
        for uuid, state in self.driver.domains().items():
            if state not in RUNNING_STATES:
                continue
            try:
                record = store.read(self.zk, uuid)[0]
            except PvcError:
                self.log.warning("unmanaged_domain_running", uuid=uuid)
                continue
            if record.node == self.node:
                with self._lock:
                    self._seen_running.add(uuid)
                self._update(uuid, lambda r: r.with_(observed="running"))
                self.log.info("vm_adopted", vm=record.name)

    # -- events (dispatcher thread): only schedule work -----------------------------------------------------

    def on_placement(self, uuids: list[str]) -> None:
        current = set(uuids)
        for uuid in current - set(self._watched):
            self._watched[uuid] = self.host.watches.data(
                paths.domain(uuid), f"vm {uuid}", functools.partial(self._on_vm_change, uuid)
            )
        for uuid in set(self._watched) - current:
            self._watched.pop(uuid).cancel()
            self.schedule(uuid)  # it left this node: as the migration source there may be work to do

    def _on_vm_change(self, uuid: str, _data: bytes | None, _stat: Any) -> None:
        self.schedule(uuid)

    def resync(self) -> None:
        if self._stopping.is_set():
            return
        self.pool.submit(self._scan)
        self.host.call_later(self.settings.resync_interval, "vm resync", self.resync)

    def _scan(self) -> None:
        """Worker: look again at every VM this node owns or its hypervisor runs (missed events, guests that
        stopped by themselves)."""
        try:
            for uuid in set(self._watched) | set(self.driver.domains()):
                self.schedule(uuid)
        except PvcError as exc:
            self.log.warning("vm_scan_failed", error=str(exc))

    def schedule(self, uuid: str) -> None:
        with self._lock:
            if uuid in self._busy:
                self._dirty.add(uuid)
                return
            self._busy.add(uuid)
        self.pool.submit(self._run, uuid)

    def _run(self, uuid: str) -> None:
        while not self._stopping.is_set():
            try:
                self.reconcile(uuid)
            except Exception:
                self.log.exception("vm_reconcile_failed", uuid=uuid)
            with self._lock:
                if uuid in self._dirty:
                    self._dirty.discard(uuid)
                    continue
                self._busy.discard(uuid)
                return

    # -- reconciling one VM (worker thread) ----------------------------------------------------------------

    def _update(self, uuid: str, change: Any) -> VmRecord | None:
        try:
            return store.update(self.zk, uuid, change)
        except PvcError as exc:
            self.log.warning("vm_update_failed", uuid=uuid, error=str(exc))
            return None

    def _unchanged(self, current: VmRecord, acted_on: VmRecord) -> bool:
        """Whether the VM is still asked for what this node acted on (no newer request came in meanwhile)."""
        return (current.state, current.node, current.operation) == (acted_on.state, acted_on.node, acted_on.operation)

    def _settle(self, acted_on: VmRecord, state: VmState, observed: str, reason: str = "", **extra: Any) -> None:
        """Write the outcome and release the operation lock, unless a newer request arrived meanwhile: then
        nothing is written and the VM is looked at again."""

        def change(r: VmRecord) -> VmRecord | None:
            if not self._unchanged(r, acted_on):
                self.schedule(r.uuid)
                return None
            return r.with_(state=state.value, observed=observed, failure_reason=reason, operation=None, **extra)

        self._update(acted_on.uuid, change)

    def reconcile(self, uuid: str) -> None:
        try:
            record = store.read(self.zk, uuid)[0]
        except PvcError:
            return  # removed
        local = self.driver.state(uuid)
        running = local in RUNNING_STATES
        log = self.log.bind(vm=record.name)
        if record.node != self.node:
            ours = record.operation is not None and record.operation.node == self.node
            if running and record.state in MIGRATING and ours:
                self.migrate_out(record, log)
            elif not running and record.state in MIGRATING and ours:
                # asked to migrate a VM that does not run here (it stopped meanwhile): its new node starts it
                self._hand_over(record, log, "it was not running on the source")
            elif running and record.state not in MIGRATING:
                log.warning("vm_running_here_but_owned_elsewhere", owner=record.node)
            elif not running and self._forget_prepared(uuid):
                self.host.release_vm(record, "abandoned")  # prepared for a migration that went elsewhere
            return
        state = VmState(record.state)
        if running:
            self._forget_prepared(uuid)  # migrated in: what was prepared is in use now
            with self._lock:
                self._seen_running.add(uuid)
        if not running:
            with self._lock:
                self._interfaces.pop(uuid, None)
        if state == VmState.START:
            if running:
                if record.operation is None:
                    self._hotplug(record, log)
                if record.observed != "running" or record.operation is not None:
                    self._settle(
                        record, VmState.START, "running", record.failure_reason if record.operation is None else ""
                    )
                return
            if record.operation is None and record.observed == "lost":
                if self._node_ready():  # made ready again (pvc node ready): it starts here
                    self.start_here(record, log)
                return
            if record.operation is None and record.observed == "running" and uuid not in self._seen_running:
                self._lost(record, log)
                return
            if record.operation is None and record.observed == "running":
                log.warning("vm_stopped_outside_pvc")
                self.host.release_vm(record, "stop")
                self._settle(record, VmState.STOP, local, "stopped outside PVC (shut down from inside, or crashed)")
                return
            if record.operation is None and record.observed not in ("", "shutoff", "absent"):
                return
            self.start_here(record, log)
        elif state == VmState.RESTART:
            if running and not self.driver.shutdown(uuid, self.settings.shutdown_timeout):
                reason = f"restart: the guest did not shut down within {self.settings.shutdown_timeout:g}s"
                self._settle(record, VmState.START, "running", reason)
                return
            self.start_here(record, log)
        elif state in (VmState.SHUTDOWN, VmState.DISABLE):
            final = VmState.STOP if state == VmState.SHUTDOWN else VmState.DISABLE
            if running and not self.driver.shutdown(uuid, self.settings.shutdown_timeout):
                reason = (
                    f"the guest did not shut down within {self.settings.shutdown_timeout:g}s (ACPI); "
                    "it still runs: 'pvc vm stop' forces it off"
                )
                log.warning("vm_shutdown_timeout")
                self._settle(record, VmState.START, "running", reason)
                return
            if running:
                self.host.release_vm(record, "stop")
            self._settle(record, final, self.driver.state(uuid))
        elif state == VmState.STOP:
            if running:
                try:
                    self.driver.destroy(uuid)
                except ComputeError as exc:
                    self._settle(record, VmState.START, "running", f"stop failed: {exc}")
                    return
                self.host.release_vm(record, "stop")
            if record.observed not in ("shutoff", "absent") or record.operation is not None:
                keep = record.failure_reason if record.operation is None else ""
                self._settle(record, VmState.STOP, "shutoff" if local != "absent" else "absent", keep)
        elif state in MIGRATING and running and record.operation is not None:
            # migrated in: the source settles the record; nothing to do here
            return
        elif state in MIGRATING and record.operation is not None and record.operation.node != self.node:
            self.prepare_incoming(record, log)

    def _node_ready(self) -> bool:
        found = read_record(self.zk, self.node)
        return found is not None and found[0].domain_state == DomainState.READY.value

    def _lost(self, record: VmRecord, log: Any) -> None:
        """A VM recorded running here that this pvcd never saw run: its domain went with the node (a power
        cut, a crash, a reboot) before this pvcd started, so it did not stop from inside. A node nobody
        declared dead starts it again at once; a node that comes back flushed (declared dead or fenced while
        away) leaves it to the recovery (its fence moves it elsewhere) or to ``pvc node ready``."""
        self.host.release_vm(record, "stop")
        if self._node_ready():
            log.warning("vm_lost_with_node_started_again")
            self.start_here(record, log)
            return
        log.warning("vm_lost_with_node")
        reason = (
            f"lost with {self.node} (no domain when its pvcd started); {self.node} is flushed: "
            "it starts here again with pvc node ready, or elsewhere if the node is fenced"
        )
        self._settle(record, VmState.START, "lost", reason)

    def start_here(self, record: VmRecord, log: Any) -> None:
        prepared = None
        try:
            prepared = self.host.prepare_vm(record, "start")  # a failure here was released by prepare_vm
            self.driver.define_secrets(prepared.secrets)
            self.driver.start(record.uuid, prepared.xml)
        except PvcError as exc:
            log.warning("vm_start_failed", error=str(exc))
            if prepared is not None:  # prepared, then the hypervisor refused it: release what was made ready
                self.host.release_vm(record, "stop")
            self._settle(record, VmState.FAIL, self.driver.state(record.uuid), str(exc))
            return
        log.info("vm_started", devices=prepared.devices)
        with self._lock:
            self._interfaces[record.uuid] = record.networks
        self._settle(record, VmState.START, "running")

    # -- interfaces added to or removed from a running VM ---------------------------------------------------

    def _hotplug(self, record: VmRecord, log: Any) -> None:
        """Bring a running VM's interfaces in line with its record (``pvc vm network add|remove``): the new
        ones are prepared by the plugins (purpose ``hotplug``) and added live, the removed ones taken out.
        What the hypervisor refuses comes at the next start; the VM's failure reason says so."""
        with self._lock:
            attached = self._interfaces.get(record.uuid)
            if attached is None:  # adopted or migrated in: it runs as defined
                self._interfaces[record.uuid] = record.networks
                return
        if attached == record.networks:
            return
        before = {n.mac: n for n in attached}
        after = {n.mac: n for n in record.networks}
        problems: list[str] = []
        for mac in sorted(set(before) - set(after)):
            try:
                self.driver.detach_device(record.uuid, f"<interface type='bridge'><mac address='{mac}'/></interface>")
                log.info("vm_interface_removed", mac=mac)
            except PvcError as exc:
                problems.append(f"interface {mac} stays until the next start: {exc}")
        added = [mac for mac in after if mac not in before]
        if added:
            try:
                prepared = self.host.prepare_vm(record, "hotplug")
                for element in ElementTree.fromstring(prepared.xml).iter("interface"):
                    mac_element = element.find("mac")
                    mac = mac_element.get("address", "") if mac_element is not None else ""
                    if mac in added:
                        self.driver.attach_device(record.uuid, ElementTree.tostring(element, encoding="unicode"))
                        log.info("vm_interface_added", mac=mac, network=after[mac].network)
            except PvcError as exc:
                problems.append(f"new interfaces come at the next start: {exc}")
        with self._lock:
            self._interfaces[record.uuid] = record.networks
        if problems:
            reason = limits.cut_reason("; ".join(problems))  # as stored: compared below
            log.warning("vm_hotplug_failed", reason=reason)
            self._update(record.uuid, lambda r: r.with_(failure_reason=reason) if r.failure_reason != reason else None)

    # -- migrations: the destination prepares, the source waits for it --------------------------------------

    def _forget_prepared(self, uuid: str) -> bool:
        with self._lock:
            if uuid in self._prepared_in:
                self._prepared_in.discard(uuid)
                return True
            return False

    def prepare_incoming(self, record: VmRecord, log: Any) -> None:
        """A VM is about to migrate here: prepare what it needs and tell the source (once per operation)."""
        assert record.operation is not None
        path = paths.domain_prepared(record.uuid)
        answered = self.zk.get_json(path) or {}
        if answered.get("node") == self.node and answered.get("started") == record.operation.started:
            return
        answer: dict[str, Any] = {"node": self.node, "started": record.operation.started}
        try:
            prepared = self.host.prepare_vm(record, "migrate-in")
            self.driver.define_secrets(prepared.secrets)
            answer["xml"] = prepared.xml if prepared.contributed else None
            with self._lock:
                self._prepared_in.add(record.uuid)
        except PvcError as exc:
            log.warning("vm_prepare_failed", error=str(exc))
            answer["error"] = str(exc)
        try:
            self.zk.put(path, encode(answer))
        except PvcError as exc:  # the VM was removed meanwhile
            log.warning("vm_prepare_answer_failed", error=str(exc))

    def _wait_prepared(self, record: VmRecord) -> tuple[str | None, str]:
        """The destination's prepared XML (None: use the running definition), or an error saying why not."""
        operation = record.operation
        assert operation is not None
        path = paths.domain_prepared(record.uuid)

        def answered() -> dict[str, Any] | None:
            answer = self.zk.get_json(path) or {}
            return answer if (answer.get("node"), answer.get("started")) == (record.node, operation.started) else None

        try:
            answer = poll(answered, self.settings.prepare_timeout, f"{record.node} to prepare it", 0.05, self._stopping)
        except Timeout as exc:
            return None, str(exc)
        if answer.get("error"):
            return None, f"{record.node} could not prepare it: {answer['error']}"
        xml = answer.get("xml")
        return (xml if isinstance(xml, str) else None), ""

    def migrate_out(self, record: VmRecord, log: Any) -> None:
        """This node runs the VM and PVC wants it on ``record.node``: move it there."""
        uuid, target = record.uuid, record.node
        method = MigrationMethod(record.migration_method)
        target_uri = str(self._node_resources(target).get("migration_uri", ""))
        reasons = []
        if method != MigrationMethod.SHUTDOWN:
            if not self.driver.live_migration:
                reasons.append(f"live migration to {target} is not possible with this hypervisor")
            elif not target_uri:
                reasons.append(f"{target} publishes no migration URI (compute_libvirt.migration_uri)")
            else:
                xml, not_prepared = self._wait_prepared(record)
                if not_prepared:
                    reasons.append(f"live migration to {target} is not possible: {not_prepared}")
                else:
                    try:
                        result = self.driver.migrate(
                            uuid, target_uri, record.max_downtime_ms, self.settings.migration_timeout, xml=xml
                        )
                    except ComputeError as exc:
                        reasons.append(f"live migration to {target} failed: {exc}")
                    else:
                        log.info(
                            "vm_migrated",
                            target=target,
                            seconds=round(result.seconds, 3),
                            downtime_ms=result.downtime_ms,
                        )
                        self.host.release_vm(record, "migrate-out")
                        with self._lock:
                            self._interfaces.pop(uuid, None)
                        last = {"seconds": round(result.seconds, 3), "downtime_ms": result.downtime_ms, "live": True}
                        self._settle(record, VmState.START, "running", last_migration=last)
                        return
            if method == MigrationMethod.LIVE:
                self._back_here(record, "; ".join(reasons) + " (migration method 'live': no fallback)", log)
                return
        # shut down here, start there: hand the start over to the target
        if not self.driver.shutdown(uuid, self.settings.shutdown_timeout):
            self._back_here(record, f"the guest did not shut down within {self.settings.shutdown_timeout:g}s", log)
            return
        self.host.release_vm(record, "migrate-out")
        self._hand_over(record, log, "; ".join(reasons) or "migration method 'shutdown'")

    def _hand_over(self, record: VmRecord, log: Any, why: str) -> None:
        """The VM is off here: its new node starts it (the operation lock passes to that node)."""
        target = record.node

        def handed_over(r: VmRecord) -> VmRecord | None:
            if not self._unchanged(r, record):
                return None
            operation = Operation(kind="start", node=target, started=time.time(), by=self.node)
            return r.with_(state=VmState.START.value, observed="shutoff", operation=operation)

        self._update(record.uuid, handed_over)
        log.info("vm_handed_over", target=target, why=why)

    def _back_here(self, record: VmRecord, reason: str, log: Any) -> None:
        log.warning("vm_migration_failed", reason=reason)

        def back(r: VmRecord) -> VmRecord | None:
            if not self._unchanged(r, record):
                return None
            return r.with_(
                state=VmState.START.value,
                node=self.node,
                last_node="",  # it never left: there is nothing to unmigrate to
                flushed_from="",
                observed="running",
                failure_reason=reason,
                operation=None,
            )

        self._update(record.uuid, back)

    def _node_resources(self, name: str) -> dict[str, Any]:
        found = read_record(self.zk, name)
        return found[0].resources if found is not None else {}


def _manager(host: Host) -> VmManager | None:
    manager = host.state.get(PLUGIN)
    return manager if isinstance(manager, VmManager) else None


@hookimpl
def pvc_config_sections() -> list[ConfigSection]:
    return [ConfigSection(SECTION, VmSettings)]


@hookimpl
def pvc_daemon_start(host: Host) -> None:
    driver = host.driver("compute")
    if not isinstance(driver, ComputeDriver):
        get_logger(node=host.node, plugin=PLUGIN).info("no_compute_driver")
        return
    manager = VmManager(host, driver, vm_settings(host))
    host.state[PLUGIN] = manager
    manager.start()


@hookimpl
def pvc_node_resources(host: Host) -> dict[str, Any]:
    """What this node's VMs take: memory and vCPUs provisioned to the VMs expected to run here, and their count."""
    if _manager(host) is None:
        return {}
    mine = [r for r in store.list_all(host.zk) if r.node == host.node and r.running_expected]
    return {
        "memory_provisioned_mib": sum(r.memory_mib for r in mine),
        "vcpus_provisioned": sum(r.vcpus for r in mine),
        "vms": len(mine),
    }


@hookimpl
def pvc_daemon_stop(host: Host) -> None:
    manager = _manager(host)
    if manager is not None:
        manager.stop()
