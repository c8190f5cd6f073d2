"""A driver for the ``dns`` role: each zone is a hosts-style file, registered as ``pvc.drivers.dns: hostsfile``.

An operator chooses it in the node config (``drivers: {dns: hostsfile}``); pvcd then builds one instance
as ``HostsFileDns(host, "hostsfile")`` at start and keeps it for the daemon's lifetime. Drivers implement
the abstract methods of their role's base class (:class:`pvc_core.roles.dns.DnsDriver` here) and report
every failure as a :class:`pvc_core.errors.PvcError` with a one-line message.

Zone ``example.org`` is kept next to the configured ``hosts_file``, in ``<hosts_file>.example.org``: its
A and AAAA records as ``ADDRESS NAME`` lines (a format dnsmasq's ``addn-hosts`` and most resolvers read),
every other record and the serial as comment lines those readers skip. The setting comes from the
``template`` config section; its default applies when the section is absent (the plugin is not enabled,
only its driver is used).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import tempfile
from typing import TYPE_CHECKING, ClassVar

from pvc_core.errors import InvalidRequest, NotFound, PvcError
from pvc_core.roles.dns import DnsDriver, DnsRecord, DnsZone, RecordType, RrsetChanges, check_name, check_zone_name
from pvc_plugin_template.config import SECTION, TemplateConfig

if TYPE_CHECKING:
    from pvc_core.host import Host

HEADER = "# pvc-zone"
OTHER = "#rr"
ADDRESS_TYPES = ("A", "AAAA")
Rrsets = dict[tuple[str, str], list[DnsRecord]]


def check_record(record: DnsRecord) -> None:
    """Refuse a record this file format cannot hold faithfully (or that is wrong anyway)."""
    check_name(record.name)
    if record.type not in {t.value for t in RecordType}:
        raise InvalidRequest(f"dns hostsfile: unknown record type '{record.type}'", field="type")
    if record.type in ADDRESS_TYPES:
        try:
            address = ipaddress.ip_address(record.content)
        except ValueError:
            raise InvalidRequest(f"dns hostsfile: {record.name}: {record.content!r} is not an IP address") from None
        if (address.version == 4) != (record.type == "A"):
            raise InvalidRequest(f"dns hostsfile: {record.name}: {record.content} is not an {record.type} address")
    elif not record.content or any(c in "\n#" for c in record.content):
        raise InvalidRequest(f"dns hostsfile: {record.name}: invalid {record.type} content {record.content!r}")


class HostsFileDns(DnsDriver):
    contract: ClassVar[str | None] = ">=2.0,<3"

    def __init__(self, host: Host, name: str) -> None:
        super().__init__(host, name)
        try:
            config: TemplateConfig = host.config.section(SECTION)
        except KeyError:
            config = TemplateConfig()
        self.hosts_file = config.hosts_file
        self.directory = os.path.dirname(self.hosts_file)

    def path(self, zone: str) -> str:
        """The file holding ``zone`` (the zone is checked first: it becomes part of a file name)."""
        check_zone_name(zone)
        return f"{self.hosts_file}.{zone}"

    # -- the role -----------------------------------------------------------------------------------------

    def zones(self) -> list[str]:
        prefix = os.path.basename(self.hosts_file) + "."
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return []
        return sorted(n.removeprefix(prefix) for n in names if n.startswith(prefix) and not n.endswith(".tmp"))

    def ensure_zone(self, zone: DnsZone) -> None:
        path = self.path(zone.name)
        serial, rrsets = self._read(zone.name) if os.path.exists(path) else (0, {})
        rrsets[("@", "NS")] = [DnsRecord("@", "NS", f"{ns}.", zone.ttl) for ns in zone.nameservers]
        self._write(zone.name, serial + 1, rrsets)

    def remove_zone(self, name: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.path(name))

    def records(self, zone: str) -> list[DnsRecord]:
        found = [r for rrset in self._read(zone)[1].values() for r in rrset]
        return sorted(found, key=lambda r: (r.name, r.type, r.content))

    def apply(self, zone: str, changes: RrsetChanges) -> None:
        serial, rrsets = self._read(zone)
        for (name, kind), records in changes.items():  # check everything before changing anything
            check_name(name)
            for record in records:
                if (record.name, record.type) != (name, kind):
                    raise InvalidRequest(f"dns hostsfile: a record in rrset {name}/{kind} has another name or type")
                check_record(record)
        for key, records in changes.items():
            if records:
                rrsets[key] = list(records)
            else:
                rrsets.pop(key, None)
        self._write(zone, serial + 1, rrsets)

    def serial(self, zone: str) -> int:
        return self._read(zone)[0]

    # -- the file -----------------------------------------------------------------------------------------

    def _read(self, zone: str) -> tuple[int, Rrsets]:
        path = self.path(zone)
        try:
            with open(path) as source:
                text = source.read()
        except FileNotFoundError:
            raise NotFound(f"dns hostsfile: no zone {zone} (no file {path})") from None
        except OSError as exc:
            raise PvcError(f"dns hostsfile: cannot read zone {zone} from {path}: {exc.strerror}") from exc
        serial, rrsets = 0, Rrsets()
        for line in text.splitlines():
            if line.startswith(HEADER):
                serial = int(line.split()[-1])
            elif line.startswith(OTHER + " "):
                _, name, kind, ttl_text, content = line.split(" ", 4)
                rrsets.setdefault((name, kind), []).append(DnsRecord(name, kind, content, int(ttl_text)))
            elif line.strip() and not line.startswith("#"):
                fields, _, comment = line.partition("#")
                address, name = fields.split()[:2]
                kind = "A" if ipaddress.ip_address(address).version == 4 else "AAAA"
                ttl = int(comment.strip() or 300)
                rrsets.setdefault((name, kind), []).append(DnsRecord(name, kind, address, ttl))
        return serial, rrsets

    def _write(self, zone: str, serial: int, rrsets: Rrsets) -> None:
        path = self.path(zone)
        lines = [
            f"# zone {zone}: written by the PVC hostsfile dns driver; do not edit\n",
            f"{HEADER} serial {serial}\n",
        ]
        for (name, kind), records in sorted(rrsets.items()):
            for r in records:
                if kind in ADDRESS_TYPES:
                    lines.append(f"{r.content} {name} # {r.ttl}\n")
                else:
                    lines.append(f"{OTHER} {name} {kind} {r.ttl} {r.content}\n")
        try:
            os.makedirs(self.directory, exist_ok=True)
            # Write a temporary file in the same directory, then rename it over the zone's file: readers
            # see the old file or the new one, never half of one.
            prefix = f".{os.path.basename(path)}."
            fd, temporary = tempfile.mkstemp(prefix=prefix, suffix=".tmp", dir=self.directory)
            try:
                with os.fdopen(fd, "w") as out:
                    out.writelines(lines)
                    out.flush()
                    os.fsync(out.fileno())
                os.chmod(temporary, 0o644)  # mkstemp makes it 0600; resolvers may run as another user
                os.replace(temporary, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
                raise
        except OSError as exc:
            raise PvcError(f"dns hostsfile: cannot write zone {zone} to {path}: {exc.strerror}") from exc
