"""Domain devices that plugins contribute to a VM on the node that runs it, and how they join its XML.

``pvc_vm_prepare`` implementations return :class:`DomainDevice` objects: one element to add under the
domain's ``<devices>`` (a ``<disk>``, an ``<interface>``...), the attachment it serves, and optionally a
:class:`DomainSecret` the hypervisor must hold first (a cephx key). The core checks that every volume and
network the VM names is served exactly once, adds the elements, and hands the result to the compute
driver. Nothing else edits a VM's XML.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from xml.etree import ElementTree

from pvc_core.errors import InvalidRequest
from pvc_core.vms.attachments import wanted
from pvc_core.vms.model import VmRecord


@dataclass(frozen=True)
class DomainSecret:
    """A secret the hypervisor keeps for a device (libvirt: a ``<secret>`` with a usage and a value)."""

    uuid: str
    usage: str  # the kind of secret: "ceph", "iscsi", "volume"...
    name: str  # the usage name, e.g. "client.pvc secret"
    value: bytes


@dataclass(frozen=True)
class DomainDevice:
    """One element for the domain's ``<devices>``, serving one attachment of the VM (or none)."""

    xml: str
    kind: str = ""  # "volume" or "network" (see pvc_core.vms.attachments); "" for an extra device
    key: str = ""  # the volume's "pool/volume" or the network as the VM names it
    secret: DomainSecret | None = None


@dataclass(frozen=True)
class Contribution:
    """What one plugin returned from ``pvc_vm_prepare``."""

    plugin: str
    devices: Sequence[DomainDevice]


def assemble(
    vm: VmRecord, base_xml: str, contributions: Iterable[Contribution], node: str
) -> tuple[str, list[DomainSecret]]:
    """The VM's final XML on ``node`` and the secrets its devices need.

    Raises InvalidRequest (one line, naming the plugin or the attachment) when a device is not one XML
    element, when two plugins serve the same attachment, or when an attachment is served by none.
    """
    root = ElementTree.fromstring(base_xml)
    devices = root.find("devices")
    if devices is None:
        devices = ElementTree.SubElement(root, "devices")
    # an attachment is served as many times as the VM names it (two interfaces on one network), by one plugin
    named = Counter((kind, key) for _field, kind, key in wanted(vm))
    served: dict[tuple[str, str], tuple[str, int]] = {}
    found_secrets: list[DomainSecret] = []
    for contribution in contributions:
        for device in contribution.devices:  # DomainDevices: the hooks facade checked what plugins returned
            try:
                element = ElementTree.fromstring(device.xml)
            except ElementTree.ParseError as exc:
                raise InvalidRequest(f"plugin '{contribution.plugin}' contributed invalid device XML: {exc}") from exc
            if device.kind:
                attachment = (device.kind, device.key)
                previous, times = served.get(attachment, (contribution.plugin, 0))
                if previous != contribution.plugin or times >= max(1, named[attachment]):
                    raise InvalidRequest(
                        f"{device.kind} {device.key} of VM {vm.name} is served by both '{previous}' and "
                        f"'{contribution.plugin}'"
                        if previous != contribution.plugin
                        else f"{device.kind} {device.key} of VM {vm.name} is served more often than the VM names it "
                        f"(by '{previous}')"
                    )
                served[attachment] = (contribution.plugin, times + 1)
            devices.append(element)
            if device.secret is not None:
                found_secrets.append(device.secret)
    for field, kind, key in wanted(vm):
        if served.get((kind, key), ("", 0))[1] < named[(kind, key)]:
            raise InvalidRequest(f"{field}: no plugin on {node} prepared {kind} {key} for VM {vm.name}")
    return ElementTree.tostring(root, encoding="unicode"), found_secrets
