"""A BMC per lab node: OpenIPMI's ``ipmi_sim`` answering IPMI over LAN, with a chassis-control program
that really cuts the node's power (the lab kills everything in the node's namespace) and restores it.

The same class serves tests that need a BMC whose power-off kills a given process.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from pvc_lab.errors import LabError
from pvc_lab.processes import owned_pid, spawn, terminate, wait_started

EMULATION = """mc_setbmc 0x20
mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr
sel_enable 0x20 1000 0x0a
mc_enable 0x20
"""


class BmcError(LabError):
    """A node's BMC (ipmi_sim) did not start or refused a power change."""


class Bmc:
    def __init__(
        self, directory: Path, name: str, address: str, port: int, user: str, password: str, control: str
    ) -> None:
        self.directory = directory
        self.name = name
        self.address = address
        self.port = port
        self.user = user
        self.password = password
        self.control = control  # a command line: ipmi_sim appends "get power" / "set power 0|1"

    @property
    def config(self) -> Path:
        return self.directory / "lan.conf"

    @property
    def pidfile(self) -> Path:
        return self.directory / "ipmi_sim.pid"

    def settings(self) -> dict[str, object]:
        """What the node's ``fencing_ipmi`` config section says."""
        return {
            "host": self.address,
            "port": self.port,
            "user": self.user,
            "password": self.password,
            "cipher_suite": 3,
            "timeout": 3.0,
        }

    def write_config(self) -> None:
        (self.directory / "state").mkdir(parents=True, exist_ok=True)
        auths = "none md2 md5 straight"
        self.config.write_text(
            f'name "{self.name}"\n'
            "set_working_mc 0x20\n"
            "  startlan 1\n"
            f"    addr {self.address} {self.port}\n"
            "    priv_limit admin\n"
            f"    allowed_auths_callback {auths}\n"
            f"    allowed_auths_user {auths}\n"
            f"    allowed_auths_operator {auths}\n"
            f"    allowed_auths_admin {auths}\n"
            "    guid a123456789abcdefa123456789abcdef\n"
            "  endlan\n"
            f'  chassis_control "{self.control}"\n'
            f'  user 2 true "{self.user}" "{self.password}" admin 10 {auths}\n'
        )
        (self.directory / "bmc.emu").write_text(EMULATION)

    def pid(self) -> int | None:
        return owned_pid(self.pidfile, str(self.config))

    def start(self, timeout: float = 10.0) -> int:
        pid = self.pid()
        if pid is not None:
            return pid
        self.write_config()
        process = spawn(
            [
                "ipmi_sim",
                "-c",
                str(self.config),
                "-f",
                str(self.directory / "bmc.emu"),
                "-s",
                str(self.directory / "state"),
                "-n",
            ],
            self.directory / "ipmi_sim.log",
            self.pidfile,
        )
        wait_started(
            process,
            self.answers,
            timeout,
            BmcError(f"ipmi_sim for {self.name} exited; see {self.directory / 'ipmi_sim.log'}"),
            BmcError(f"ipmi_sim for {self.name} does not answer after {timeout:g}s"),
        )
        return process.pid

    def ipmitool(self, *command: str, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
        """One ipmitool call against this BMC, as any IPMI client would make it."""
        return subprocess.run(
            ["ipmitool", "-I", "lanplus", "-C", "3", "-H", self.address, "-p", str(self.port), "-U", self.user,
             "-P", self.password, *command],
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip

    def answers(self) -> bool:
        return self.ipmitool("-N", "1", "-R", "1", "chassis", "power", "status", timeout=10).returncode == 0

    def power(self, state: str) -> None:
        """``chassis power on|off`` through this BMC, as an operator or a power cut would."""
        result = self.ipmitool("chassis", "power", state)
        if result.returncode != 0:
            raise BmcError(f"power {state} through {self.name}'s BMC failed: {result.stderr.strip()}")

    def stop(self) -> None:
        pid = self.pid()
        if pid is not None:
            terminate(pid, timeout=5.0)


def pid_power_script(path: Path, pidfile: Path, power_file: Path) -> str:
    """A chassis-control program for tests: power off kills the process in ``pidfile``."""
    path.write_text(
        "#!/bin/sh\n"
        f'state="{power_file}"\n'
        '[ -f "$state" ] || echo 1 > "$state"\n'
        'case "$1" in\n'
        '  get) shift; for what in "$@"; do [ "$what" = power ] && echo "power:$(cat "$state")"; done ;;\n'
        "  set) shift; while [ $# -gt 1 ]; do\n"
        '      if [ "$1" = power ]; then\n'
        '        echo "$2" > "$state"\n'
        f'        if [ "$2" = 0 ] && [ -f "{pidfile}" ]; then kill -9 "$(cat "{pidfile}")" 2>/dev/null; fi\n'
        "      fi; shift 2; done ;;\n"
        "esac\n"
    )
    path.chmod(0o755)
    return str(path)
