"""Checks on libvirt domain XML that need no hypervisor: well-formed, a domain, a name, memory, vCPUs, UUID.

What only the hypervisor can judge (devices, machine types) is the compute driver's: a start that fails
puts the VM in ``fail`` with the driver's reason.
"""

from __future__ import annotations

import uuid as uuidlib
from dataclasses import dataclass
from xml.etree import ElementTree

from pvc_core.errors import InvalidRequest
from pvc_core.vms.model import NAME_PATTERN

_UNITS = {
    "b": 1 / (1024 * 1024),
    "bytes": 1 / (1024 * 1024),
    "k": 1 / 1024,
    "kib": 1 / 1024,
    "kb": 1000 / (1024 * 1024),
    "m": 1,
    "mib": 1,
    "mb": 1000 * 1000 / (1024 * 1024),
    "g": 1024,
    "gib": 1024,
    "gb": 1000**3 / (1024 * 1024),
    "t": 1024 * 1024,
    "tib": 1024 * 1024,
    "tb": 1000**4 / (1024 * 1024),
}


@dataclass(frozen=True)
class DomainXml:
    name: str
    uuid: str
    memory_mib: int
    vcpus: int
    xml: str  # normalised: with the UUID filled in


def parse_domain(text: str) -> DomainXml:
    """Parse and check domain XML; fill in a UUID when it has none. Errors are one line."""
    try:
        root = ElementTree.fromstring(text)
    except ElementTree.ParseError as exc:
        raise InvalidRequest(f"invalid domain XML: {exc}") from exc
    if root.tag != "domain":
        raise InvalidRequest(f"invalid domain XML: the root element is <{root.tag}>, not <domain>")
    if not root.get("type"):
        raise InvalidRequest("invalid domain XML: <domain> has no type attribute (e.g. type='kvm' or 'qemu')")
    name = (root.findtext("name") or "").strip()
    if not name:
        raise InvalidRequest("invalid domain XML: no <name>")
    if not NAME_PATTERN.match(name):
        raise InvalidRequest(f"invalid domain XML: name '{name}' must be letters, digits, '.', '_', '-' (max 63)")
    uuid_element = root.find("uuid")
    if uuid_element is None or not (uuid_element.text or "").strip():
        value = str(uuidlib.uuid4())
        if uuid_element is None:
            uuid_element = ElementTree.Element("uuid")
            root.insert(1, uuid_element)
        uuid_element.text = value
    try:
        uuid = str(uuidlib.UUID((uuid_element.text or "").strip()))
    except ValueError as exc:
        raise InvalidRequest(f"invalid domain XML: <uuid> '{uuid_element.text}' is not a UUID") from exc
    memory = root.find("memory")
    if memory is None or not (memory.text or "").strip():
        raise InvalidRequest("invalid domain XML: no <memory>")
    unit = (memory.get("unit") or "KiB").lower()
    if unit not in _UNITS:
        raise InvalidRequest(f"invalid domain XML: unknown memory unit '{memory.get('unit')}'")
    try:
        memory_mib = int(float((memory.text or "").strip()) * _UNITS[unit])
    except ValueError as exc:
        raise InvalidRequest(f"invalid domain XML: <memory> '{memory.text}' is not a number") from exc
    if memory_mib < 1:
        raise InvalidRequest("invalid domain XML: <memory> is under 1 MiB")
    vcpu_text = (root.findtext("vcpu") or "1").strip()
    if not vcpu_text.isdigit() or int(vcpu_text) < 1:
        raise InvalidRequest(f"invalid domain XML: <vcpu> '{vcpu_text}' is not a positive whole number")
    return DomainXml(
        name=name,
        uuid=uuid,
        memory_mib=memory_mib,
        vcpus=int(vcpu_text),
        xml=ElementTree.tostring(root, encoding="unicode"),
    )


def rename_domain(text: str, name: str) -> str:
    root = ElementTree.fromstring(text)
    element = root.find("name")
    assert element is not None
    element.text = name
    return ElementTree.tostring(root, encoding="unicode")
