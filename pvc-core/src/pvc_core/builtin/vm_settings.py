"""The ``vms`` section of the node config, shared by the VM builtins (declared by ``builtin.vm-manager``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from pvc_core.host import Host

SECTION = "vms"


class VmSettings(BaseModel):
    """The ``vms`` section of the node config."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    workers: int = Field(4, ge=1, le=64, description="VM operations this node runs at once.")
    shutdown_timeout: float = Field(120.0, gt=0, description="Seconds a guest has to power off on ACPI.")
    migration_timeout: float = Field(300.0, gt=0, description="Seconds one live migration may take.")
    flush_parallel: int = Field(2, ge=1, le=32, description="VMs a flush moves at once.")
    resync_interval: float = Field(10.0, gt=0, description="Seconds between full checks of this node's VMs.")
    prepare_timeout: float = Field(
        60.0, gt=0, description="Seconds a migration's destination has to prepare the VM (pvc_vm_prepare)."
    )


def vm_settings(host: Host) -> VmSettings:
    """This node's ``vms`` settings (their defaults when ``builtin.vm-manager``, which declares them, is off)."""
    return host.config.section_or_default(SECTION, VmSettings)
