"""The ``ha`` section of the node config, shared by ``builtin.fence-monitor`` (which declares it) and
``builtin.self-fence``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

if TYPE_CHECKING:
    from pvc_core.host import Host

SECTION = "ha"


class HaConfig(BaseModel):
    """The ``ha`` section of the node config."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    takeover_grace: float | None = Field(
        None, ge=0, description="No fencing this long after a takeover (default: dead_grace)."
    )
    fence_retries: int = Field(2, ge=0, le=10, description="Further fence attempts after a failed one.")
    on_fence_failure: Literal["wait", "recover-after-self-fence"] = "wait"
    self_fence_interval: float | None = Field(
        None, gt=0, description="Off unless set: seconds cut off before a node stops its VMs."
    )
    max_dead_fraction: float = Field(0.5, gt=0, le=1, description="Fence nobody when this share of nodes looks dead.")
    fence_retry_interval: float = Field(
        10.0, gt=0, description="After a failed fence, try again this long later (then twice as long each time)."
    )
    fence_retry_max_interval: float = Field(300.0, gt=0, description="The longest wait between those tries.")

    @model_validator(mode="after")
    def _policy_needs_self_fence(self) -> HaConfig:
        if self.on_fence_failure == "recover-after-self-fence" and self.self_fence_interval is None:
            raise ValueError("on_fence_failure 'recover-after-self-fence' needs self_fence_interval")
        return self


def ha_config(host: Host) -> HaConfig:
    """This node's ``ha`` settings (their defaults when ``builtin.fence-monitor``, which declares them, is off)."""
    return host.config.section_or_default(SECTION, HaConfig)
