"""Driver roles: abstract base classes, one per role, each loaded by stevedore by the name in node config.

A driver is registered by its distribution under the entry-point group ``pvc.drivers.<role>``:

    [project.entry-points."pvc.drivers.dns"]
    hostsfile = "pvc_plugin_template.dns:HostsFileDns"

and chosen in the node config (``drivers: {dns: hostsfile}``). Another distribution may register the same
role under another name; the node config picks one, and the role's conformance tests must pass for it.
"""

from pvc_core.roles.base import Driver, driver_group
from pvc_core.roles.compute import ComputeDriver
from pvc_core.roles.dns import DnsDriver
from pvc_core.roles.fencing import FencingDriver, PowerState
from pvc_core.roles.network import NetworkDriver
from pvc_core.roles.storage import StorageDriver

# Every role, by name, with its base class: the one list (the node config's ``drivers`` section has one
# key per role, checked against it by a test; ``network`` takes a list, one driver per network type).
ROLE_CLASSES: dict[str, type[Driver]] = {
    cls.role: cls for cls in (ComputeDriver, StorageDriver, FencingDriver, NetworkDriver, DnsDriver)
}
# role name -> the entry-point group its drivers register in
ROLES: dict[str, str] = {role: driver_group(role) for role in ROLE_CLASSES}
LISTED_ROLES = frozenset({NetworkDriver.role})  # roles the node config lists several drivers for

__all__ = [
    "LISTED_ROLES",
    "ROLES",
    "ROLE_CLASSES",
    "ComputeDriver",
    "DnsDriver",
    "Driver",
    "FencingDriver",
    "NetworkDriver",
    "PowerState",
    "StorageDriver",
]
