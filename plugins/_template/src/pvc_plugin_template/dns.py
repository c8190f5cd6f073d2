"""A driver for the ``dns`` role: each zone is a hosts-style file, registered as ``pvc.drivers.dns: hostsfile``.

An operator chooses it in the node config (``drivers: {dns: hostsfile}``); pvcd then builds one instance
as ``HostsFileDns(host, "hostsfile")`` at start and keeps it for the daemon's lifetime. Drivers implement
the abstract methods of their role's base class (:class:`pvc_core.roles.dns.DnsDriver` here) and report
every failure as a :class:`pvc_core.errors.PvcError` with a one-line message.

Zone ``example.org`` is kept next to the configured ``hosts_file``, in ``<hosts_file>.example.org``, one
``ADDRESS NAME`` line per record: a format dnsmasq (``addn-hosts``) and most resolvers read. The setting
comes from the ``template`` config section; its default applies when the section is absent (the plugin
is not enabled, only its driver is used).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import tempfile
from collections.abc import Mapping
from typing import TYPE_CHECKING

from pvc_core.errors import PvcError
from pvc_core.roles.dns import DnsDriver
from pvc_plugin_template.config import SECTION, TemplateConfig

if TYPE_CHECKING:
    from pvc_core.host import Host


def check_label(kind: str, value: str) -> None:
    """Refuse a zone or name that could escape the directory or break an ``ADDRESS NAME`` line."""
    if not value:
        raise PvcError(f"dns hostsfile: the {kind} is empty")
    if value.startswith(".") or any(c in "/#" or c.isspace() or not c.isprintable() for c in value):
        raise PvcError(f"dns hostsfile: invalid {kind} {value!r} (no '/', '#', whitespace or leading '.')")


def check_address(name: str, address: str) -> None:
    try:
        ipaddress.ip_address(address)
    except ValueError:
        raise PvcError(f"dns hostsfile: {name}: {address!r} is not an IP address") from None


class HostsFileDns(DnsDriver):
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
        check_label("zone", zone)
        return f"{self.hosts_file}.{zone}"

    def publish(self, zone: str, records: Mapping[str, str]) -> None:
        path = self.path(zone)
        for name, address in records.items():
            check_label("name", name)
            check_address(name, address)
        lines = [f"# zone {zone}: written by the PVC hostsfile dns driver; do not edit\n"]
        lines += [f"{records[name]} {name}\n" for name in sorted(records)]
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

    def records(self, zone: str) -> dict[str, str]:
        path = self.path(zone)
        try:
            with open(path) as hosts:
                text = hosts.read()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise PvcError(f"dns hostsfile: cannot read zone {zone} from {path}: {exc.strerror}") from exc
        found: dict[str, str] = {}
        for line in text.splitlines():
            fields = line.split("#", 1)[0].split()
            if len(fields) < 2:
                continue  # blank or comment line
            address, *names = fields  # a hosts line may carry aliases after the first name
            for name in names:
                found[name] = address
        return found
