"""The ``ipmi`` fencing driver: ipmitool over lanplus, every call bounded, power state read back."""

from __future__ import annotations

import os
import re
import subprocess
import time
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from pvc_core.config import ConfigSection
from pvc_core.errors import PvcError
from pvc_core.roles.fencing import FencingDriver, PowerState
from pvc_core.zk.schema import Migration, Schema

if TYPE_CHECKING:
    from pvc_core.host import Host

SECTION = "fencing_ipmi"
OWNER = "fencing-ipmi"
OLD_BMC_ROOT = f"/plugins/{OWNER}/bmc"  # where version 1 kept them, readable by every ZooKeeper client
POWER = re.compile(r"power is (on|off)", re.IGNORECASE)


class FenceError(PvcError):
    """The BMC could not be reached, refused, or did not confirm the power state."""


class BmcSettings(BaseModel):
    """The ``fencing_ipmi`` section: this node's own BMC (published for the primary to use)."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    host: str = Field(description="The BMC's address.")
    port: int = Field(623, ge=1, le=65535)
    user: str = "admin"
    password: str = ""
    cipher_suite: int = Field(3, ge=0, le=17)
    timeout: float = Field(5.0, gt=0, description="Seconds one ipmitool call may take.")


def bmc_key(node: str) -> str:
    """The node's BMC settings, password included, among this plugin's secrets (``plugin_secrets``)."""
    return f"bmc/{node}"


def _v1_to_v2(zk: Any) -> None:
    """v2 keeps the BMC settings among the plugin's secrets (each node publishes its own again at start)."""
    zk.delete(OLD_BMC_ROOT, recursive=True)


def ipmitool(bmc: BmcSettings, *command: str) -> str:
    """Run one ipmitool command against ``bmc``; its output, or FenceError with the reason (one line)."""
    # -N/-R: one short attempt inside our own bound; -C: the cipher suite (3 avoids a 10 s probe)
    args = [
        "ipmitool",
        "-I",
        "lanplus",
        "-H",
        bmc.host,
        "-p",
        str(bmc.port),
        "-U",
        bmc.user,
        "-E",  # the password from $IPMI_PASSWORD: a command line is readable by every local user
        "-C",
        str(bmc.cipher_suite),
        "-N",
        str(max(1, int(bmc.timeout / 2))),
        "-R",
        "1",
        *command,
    ]
    try:
        result = subprocess.run(
            args,
            capture_output=True,
            text=True,
            timeout=bmc.timeout + 1.0,
            check=False,
            env={**os.environ, "IPMI_PASSWORD": bmc.password},
        )
    except subprocess.TimeoutExpired as exc:
        raise FenceError(f"BMC {bmc.host}:{bmc.port} did not answer within {bmc.timeout:g}s") from exc
    except FileNotFoundError as exc:
        raise FenceError("ipmitool is not installed") from exc
    if result.returncode != 0:
        reason = " ".join((result.stderr or result.stdout).split()) or f"exit status {result.returncode}"
        raise FenceError(f"BMC {bmc.host}:{bmc.port}: {reason}")
    return result.stdout


def parse_power(output: str) -> PowerState:
    found = POWER.search(output)
    if found is None:
        return PowerState.UNKNOWN
    return PowerState.ON if found.group(1).lower() == "on" else PowerState.OFF


class IpmiFencing(FencingDriver):
    contract: ClassVar[str | None] = ">=2.4,<3"  # plugin_secrets
    config_section: ClassVar[ConfigSection | None] = ConfigSection(SECTION, BmcSettings)
    # the BMC records this driver publishes for the primary are secrets (passwords): since version 2 they
    # live in the plugin's secrets (on a secured cluster, only the nodes' credential reads them)
    zk_schema: ClassVar[Schema | None] = Schema(
        owner=OWNER,
        version=2,
        paths=(f"/plugins/{OWNER}",),
        migrations=(Migration(2, "BMC settings among the plugin's secrets", _v1_to_v2),),
    )

    def __init__(self, host: Host, name: str) -> None:
        super().__init__(host, name)
        self.own: BmcSettings = host.config.section(SECTION)
        self.publish()

    def publish(self) -> None:
        """Tell the cluster how to reach this node's BMC (the primary fences with it)."""
        self.host.cluster.plugin_secrets(OWNER).set(bmc_key(self.host.node), self.own.model_dump())

    def bmc(self, node: str) -> BmcSettings:
        data: Any = self.host.cluster.plugin_secrets(OWNER).get(bmc_key(node))
        if not data:
            raise FenceError(f"node {node} has published no BMC settings (is its fencing driver 'ipmi'?)")
        return BmcSettings.model_validate(data)

    def power_status(self, node: str) -> PowerState:
        return parse_power(ipmitool(self.bmc(node), "chassis", "power", "status"))

    def power_off(self, node: str) -> None:
        bmc = self.bmc(node)
        ipmitool(bmc, "chassis", "power", "off")
        self._confirm(node, bmc, PowerState.OFF)

    def power_on(self, node: str) -> None:
        bmc = self.bmc(node)
        ipmitool(bmc, "chassis", "power", "on")
        self._confirm(node, bmc, PowerState.ON)

    def _confirm(self, node: str, bmc: BmcSettings, wanted: PowerState) -> None:
        deadline = time.monotonic() + bmc.timeout
        state = PowerState.UNKNOWN
        while time.monotonic() < deadline:
            state = parse_power(ipmitool(bmc, "chassis", "power", "status"))
            if state == wanted:
                return
            time.sleep(0.2)
        raise FenceError(f"node {node}'s BMC still reports power {state.value} after 'power {wanted.value}'")
