"""Driver roles: abstract base classes, one per role, each loaded by stevedore by the name in node config.

A driver is registered by its distribution under the entry-point group ``pvc.drivers.<role>``:

    [project.entry-points."pvc.drivers.dns"]
    hostsfile = "pvc_plugin_template.dns:HostsFileDns"

and chosen in the node config (``drivers: {dns: hostsfile}``). Another distribution may register the same
role under another name; the node config picks one, and the role's conformance tests must pass for it.
"""

from pvc_core.roles.base import ROLES, Driver
from pvc_core.roles.compute import ComputeDriver
from pvc_core.roles.dns import DnsDriver
from pvc_core.roles.fencing import FencingDriver, PowerState
from pvc_core.roles.network import NetworkDriver
from pvc_core.roles.storage import StorageDriver

__all__ = [
    "ROLES",
    "ComputeDriver",
    "DnsDriver",
    "Driver",
    "FencingDriver",
    "NetworkDriver",
    "PowerState",
    "StorageDriver",
]
