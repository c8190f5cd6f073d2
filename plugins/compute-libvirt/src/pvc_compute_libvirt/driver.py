"""The ``libvirt`` compute driver: one libvirt connection per node daemon, every call bounded or polled."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from xml.etree import ElementTree
from xml.sax.saxutils import escape

from pydantic import BaseModel, ConfigDict, Field

from pvc_core.config import ConfigSection
from pvc_core.roles.compute import ComputeDriver, ComputeError, ConsoleChunk, MigrationResult

if TYPE_CHECKING:
    from pvc_core.host import Host
    from pvc_core.vms.devices import DomainSecret

SECTION = "compute_libvirt"
SHUTDOWN_REPEAT = 5.0  # seconds between ACPI power-button presses while waiting for a guest to power off


class LibvirtSettings(BaseModel):
    """The ``compute_libvirt`` section of the node config."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    uri: str = Field("qemu:///system", description="This node's libvirtd.")
    migration_uri: str = Field("", description="How other nodes' libvirtd reach this one (qemu+tcp://ADDRESS/system).")
    console_dir: str = Field("/var/log/pvc/console", description="Where guests' serial consoles are logged.")


def _libvirt() -> Any:
    try:
        import libvirt
    except ImportError as exc:  # pragma: no cover - depends on the machine
        raise ComputeError("the libvirt Python binding is missing: install Debian's python3-libvirt") from exc
    # libvirt prints every error to stderr by default; ours become ComputeError with the reason instead
    libvirt.registerErrorHandler(lambda _context, _error: None, None)
    return libvirt


_STATES = {
    0: "nostate",
    1: "running",
    2: "blocked",
    3: "paused",
    4: "shutdown",
    5: "shutoff",
    6: "crashed",
    7: "pmsuspended",
}


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split())


class LibvirtCompute(ComputeDriver):
    contract: ClassVar[str | None] = ">=2.0,<3"
    config_section: ClassVar[ConfigSection | None] = ConfigSection(SECTION, LibvirtSettings)

    def __init__(self, host: Host, name: str) -> None:
        super().__init__(host, name)
        self.settings: LibvirtSettings = host.config.section(SECTION)
        self._libvirt = _libvirt()
        self._lock = threading.RLock()
        self._conn: Any = None
        self.connection()  # fail at start, with the reason, when libvirtd is not there
        # libvirtd probes QEMU's capabilities on first use (seconds): do it now, not in the first VM start
        threading.Thread(target=self._warm_up, name="pvc-libvirt-warm-up", daemon=True).start()

    def _warm_up(self) -> None:
        with contextlib.suppress(Exception):
            self.connection().getCapabilities()

    # -- connection ---------------------------------------------------------------------------------------

    def connection(self) -> Any:
        with self._lock:
            if self._conn is not None:
                try:
                    if self._conn.isAlive():
                        return self._conn
                except self._libvirt.libvirtError:
                    pass
            try:
                self._conn = self._libvirt.open(self.settings.uri)
            except self._libvirt.libvirtError as exc:
                raise ComputeError(f"cannot connect to libvirt at {self.settings.uri}: {_one_line(exc)}") from exc
            return self._conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                with contextlib.suppress(self._libvirt.libvirtError):
                    self._conn.close()
                self._conn = None

    def _domain(self, uuid: str) -> Any | None:
        try:
            return self.connection().lookupByUUIDString(uuid)
        except self._libvirt.libvirtError as exc:
            if exc.get_error_code() == self._libvirt.VIR_ERR_NO_DOMAIN:
                return None
            raise ComputeError(_one_line(exc)) from exc

    # -- the role -----------------------------------------------------------------------------------------

    def resources(self) -> dict[str, Any]:
        conn = self.connection()
        info = conn.getInfo()
        try:
            free = int(conn.getFreeMemory() // (1024 * 1024))
        except self._libvirt.libvirtError:
            free = 0
        if free <= 0:  # not reported (libvirt's test driver): no better figure than the total
            free = int(info[1])
        return {
            "cpus": int(info[2]),
            "memory_total_mib": int(info[1]),
            "memory_free_mib": free,
            "migration_uri": self.settings.migration_uri,
            "hypervisor": conn.getType(),
        }

    def domains(self) -> dict[str, str]:
        found = {}
        for domain in self.connection().listAllDomains():
            found[domain.UUIDString()] = _STATES.get(domain.state()[0], "unknown")
        return found

    def state(self, uuid: str) -> str:
        domain = self._domain(uuid)
        if domain is None:
            return "absent"
        try:
            return _STATES.get(domain.state()[0], "unknown")
        except self._libvirt.libvirtError:
            return "absent"  # went away between lookup and state

    def start(self, uuid: str, xml: str) -> None:
        domain = self._domain(uuid)
        try:
            if domain is not None:
                if domain.isActive():
                    return
                domain.create()  # a persistent definition left behind: start that one
                return
            # transient: ZooKeeper holds the definition; the hypervisor forgets the domain when it stops
            self.connection().createXML(self._with_console_log(uuid, xml), 0)
        except self._libvirt.libvirtError as exc:
            raise ComputeError(_one_line(exc)) from exc

    def shutdown(self, uuid: str, timeout: float) -> bool:
        domain = self._domain(uuid)
        if domain is None:
            return True
        try:
            if not domain.isActive():
                return True
            domain.shutdown()
        except self._libvirt.libvirtError as exc:
            if self._domain(uuid) is None:
                return True
            raise ComputeError(_one_line(exc)) from exc
        # a guest still booting misses the power button: press it again every few seconds until the timeout
        deadline = time.monotonic() + timeout
        pressed = time.monotonic()
        while time.monotonic() < deadline:
            if self.state(uuid) in ("absent", "shutoff", "crashed"):
                return True
            if time.monotonic() - pressed > SHUTDOWN_REPEAT:
                with contextlib.suppress(self._libvirt.libvirtError):
                    domain.shutdown()
                pressed = time.monotonic()
            time.sleep(0.2)
        return False

    def destroy(self, uuid: str) -> None:
        domain = self._domain(uuid)
        if domain is None:
            return
        try:
            if domain.isActive():
                domain.destroy()
        except self._libvirt.libvirtError as exc:
            if self._domain(uuid) is not None and self.state(uuid) == "running":
                raise ComputeError(_one_line(exc)) from exc

    @property
    def live_migration(self) -> bool:
        return not self.settings.uri.startswith("test:")

    def define_secrets(self, secrets: Sequence[DomainSecret]) -> None:
        libvirt = self._libvirt
        for secret in secrets:
            definition = (
                f"<secret ephemeral='no' private='yes'><uuid>{escape(secret.uuid)}</uuid>"
                f"<usage type='{escape(secret.usage)}'><name>{escape(secret.name)}</name></usage></secret>"
            )
            try:
                self.connection().secretDefineXML(definition, 0).setValue(secret.value, 0)
            except libvirt.libvirtError as exc:
                if exc.get_error_code() == libvirt.VIR_ERR_NO_SUPPORT and self.settings.uri.startswith("test:"):
                    # libvirt's test driver (a hypervisor for tests) keeps no secrets, and needs none: it runs
                    # nothing. Every real hypervisor defines them or fails here.
                    continue
                raise ComputeError(f"cannot define secret {secret.name}: {_one_line(exc)}") from exc

    def attach_device(self, uuid: str, xml: str) -> None:
        self._live_device(uuid, xml, attach=True)

    def detach_device(self, uuid: str, xml: str) -> None:
        self._live_device(uuid, xml, attach=False)

    def _live_device(self, uuid: str, xml: str, attach: bool) -> None:
        libvirt = self._libvirt
        domain = self._domain(uuid)
        if domain is None:
            raise ComputeError(f"domain {uuid} is not on this node")
        try:
            if attach:
                domain.attachDeviceFlags(xml, libvirt.VIR_DOMAIN_AFFECT_LIVE)
            else:
                domain.detachDeviceFlags(self._running_device(domain, xml), libvirt.VIR_DOMAIN_AFFECT_LIVE)
        except libvirt.libvirtError as exc:
            if exc.get_error_code() == libvirt.VIR_ERR_NO_SUPPORT:  # libvirt's test hypervisor, say
                what = "add devices to" if attach else "remove devices from"
                raise ComputeError(f"this hypervisor cannot {what} a running VM: {_one_line(exc)}") from exc
            raise ComputeError(_one_line(exc)) from exc

    @staticmethod
    def _running_device(domain: Any, xml: str) -> str:
        """The running domain's own ``<interface>`` with the MAC address ``xml`` names (libvirt wants the
        whole device to detach it); other devices as given."""
        wanted = ElementTree.fromstring(xml)
        mac = wanted.find("mac")
        if wanted.tag != "interface" or mac is None:
            return xml
        for element in ElementTree.fromstring(domain.XMLDesc(0)).iter("interface"):
            found = element.find("mac")
            if found is not None and found.get("address", "").lower() == mac.get("address", "").lower():
                return ElementTree.tostring(element, encoding="unicode")
        raise ComputeError(f"the running VM has no interface with MAC address {mac.get('address')}")

    def migrate(
        self, uuid: str, target_uri: str, max_downtime_ms: int, timeout: float, xml: str | None = None
    ) -> MigrationResult:
        libvirt = self._libvirt
        domain = self._domain(uuid)
        if domain is None:
            raise ComputeError(f"domain {uuid} is not on this node")
        flags = libvirt.VIR_MIGRATE_LIVE | libvirt.VIR_MIGRATE_PEER2PEER
        params = {libvirt.VIR_MIGRATE_PARAM_DEST_XML: self._with_console_log(uuid, xml)} if xml else {}
        outcome: list[BaseException | None] = []

        def run() -> None:
            try:
                domain.migrateToURI3(target_uri, params, flags)
                outcome.append(None)
            except libvirt.libvirtError as exc:
                outcome.append(exc)

        started = time.monotonic()
        worker = threading.Thread(target=run, name=f"migrate-{uuid}", daemon=True)
        worker.start()
        try:
            time.sleep(0.05)
            domain.migrateSetMaxDowntime(max_downtime_ms, 0)
        except libvirt.libvirtError:
            pass  # the job may not have started yet or already ended: the default downtime applies
        worker.join(timeout)
        if worker.is_alive():
            with contextlib.suppress(libvirt.libvirtError):
                domain.abortJob()
            worker.join(30)
            raise ComputeError(f"migration to {target_uri} did not finish within {timeout:g}s; aborted")
        seconds = time.monotonic() - started
        if outcome and outcome[0] is not None:
            raise ComputeError(_one_line(outcome[0])) from outcome[0]
        return MigrationResult(seconds=seconds, downtime_ms=self._downtime(uuid, target_uri))

    def _downtime(self, uuid: str, target_uri: str) -> float | None:
        """The completed job's downtime, as the destination's libvirtd recorded it."""
        libvirt = self._libvirt
        try:
            target = libvirt.open(target_uri)
        except libvirt.libvirtError:
            return None
        try:
            stats = target.lookupByUUIDString(uuid).jobStats(libvirt.VIR_DOMAIN_JOB_STATS_COMPLETED)
            downtime = stats.get("downtime")
            return float(downtime) if downtime is not None else None
        except libvirt.libvirtError:
            return None
        finally:
            target.close()

    def console_path(self, uuid: str) -> Path:
        return Path(self.settings.console_dir) / f"{uuid}.log"

    def console(self, uuid: str, lines: int, offset: int | None = None) -> ConsoleChunk:
        path = self.console_path(uuid)
        try:
            with path.open("rb") as source:
                end = source.seek(0, 2)
                tail = offset is None or offset > end  # the last lines (or the log was replaced)
                start = max(0, end - lines * 256) if tail else int(offset or 0)
                source.seek(start)
                data = source.read(end - start)
        except OSError:
            return ConsoleChunk(lines=[], offset=offset or 0)
        if tail and start > 0:  # began mid-line: drop the partial first line
            cut = data.find(b"\n") + 1
            data, start = data[cut:], start + cut
        complete = data[: data.rfind(b"\n") + 1]  # whole lines only: a partial one is read next time
        text = complete.decode(errors="replace").splitlines()
        return ConsoleChunk(lines=text[-lines:], offset=start + len(complete))

    def stats(self, uuid: str) -> dict[str, Any]:
        domain = self._domain(uuid)
        if domain is None:
            return {}
        try:
            state, _max_kib, memory_kib, vcpus, cpu_ns = domain.info()
        except self._libvirt.libvirtError:
            return {}
        return {
            "state": _STATES.get(state, "unknown"),
            "memory_mib": memory_kib // 1024,
            "vcpus": vcpus,
            "cpu_seconds": round(cpu_ns / 1e9, 3),
        }

    # -- helpers ------------------------------------------------------------------------------------------

    def _with_console_log(self, uuid: str, xml: str) -> str:
        """Log the guest's first serial port to ``console_dir/UUID.log`` (kept across migrations)."""
        if self.settings.uri.startswith("test:"):
            return xml
        root = ElementTree.fromstring(xml)
        serial = root.find("devices/serial")
        if serial is None or serial.find("log") is not None or serial.get("type") == "file":
            return xml
        Path(self.settings.console_dir).mkdir(parents=True, exist_ok=True)
        ElementTree.SubElement(serial, "log", {"file": str(self.console_path(uuid)), "append": "on"})
        return ElementTree.tostring(root, encoding="unicode")
