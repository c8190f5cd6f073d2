"""Network namespaces for tests of network drivers and for the lab: a switch, nodes, hosts, FRR in them.

Everything here is real: ``ip netns``, veth pairs, a bridge, FRR's zebra and bgpd started in a namespace
(:class:`Frr`). Processes are stopped by their PIDs (never by name); :meth:`Netns.delete` kills whatever
still runs inside before it removes the namespace.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

from pvc_core.testing.processes import is_running


class NetnsError(RuntimeError):
    """A namespace, link or FRR daemon could not be made."""


def ip(*args: str, netns: str = "", check: bool = True) -> subprocess.CompletedProcess[str]:
    command = ["ip", *(["-n", netns] if netns else []), *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    if check and result.returncode != 0:
        raise NetnsError(f"'{' '.join(command)}' failed: {result.stderr.strip()}")
    return result


def run_in(netns: str, *argv: str, timeout: float = 30.0, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a command inside ``netns`` to completion."""
    result = subprocess.run(
        ["ip", "netns", "exec", netns, *argv], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and result.returncode != 0:
        raise NetnsError(f"'{' '.join(argv)}' in {netns} failed: {(result.stderr or result.stdout).strip()}")
    return result


class Netns:
    def __init__(self, name: str) -> None:
        self.name = name

    def create(self) -> Netns:
        if not self.exists():
            ip("netns", "add", self.name)
        ip("link", "set", "lo", "up", netns=self.name)
        return self

    def exists(self) -> bool:
        return Path("/run/netns", self.name).exists()

    def pids(self) -> list[int]:
        result = ip("netns", "pids", self.name, check=False)
        return [int(pid) for pid in result.stdout.split() if pid.isdigit()]

    def kill_all(self, sig: int = signal.SIGKILL) -> None:
        for _ in range(20):
            pids = [pid for pid in self.pids() if is_running(pid)]
            if not pids:
                return
            for pid in pids:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, sig)
            time.sleep(0.05)

    def delete(self) -> None:
        if self.exists():
            self.kill_all()
            ip("netns", "del", self.name, check=False)

    def run(self, *argv: str, timeout: float = 30.0, check: bool = True) -> subprocess.CompletedProcess[str]:
        return run_in(self.name, *argv, timeout=timeout, check=check)

    def ip(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return ip(*args, netns=self.name, check=check)


def veth(a: Netns, a_name: str, b: Netns, b_name: str, mtu: int = 1500) -> None:
    """A veth pair between two namespaces, both ends up."""
    a.ip("link", "add", a_name, "mtu", str(mtu), "type", "veth", "peer", "name", b_name, "netns", b.name)
    a.ip("link", "set", a_name, "up")
    b.ip("link", "set", b_name, "mtu", str(mtu), "up")


class Frr:
    """FRR's zebra and bgpd in a namespace, with an empty configuration that ``vtysh`` then changes.

    ``vty_socket`` is the folder of its vty sockets (``vtysh --vty_socket``); its files, logs and PIDs live
    in ``directory``."""

    def __init__(self, netns: str, directory: Path, hostname: str) -> None:
        self.netns = netns
        self.directory = directory
        self.hostname = hostname

    @property
    def vty_socket(self) -> str:
        return str(self.directory)

    @staticmethod
    def installed() -> bool:
        return Path("/usr/lib/frr/zebra").exists() and shutil.which("vtysh") is not None

    def pid(self, daemon: str) -> int | None:
        try:
            pid = int((self.directory / f"{daemon}.pid").read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if is_running(pid) else None

    def start(self, timeout: float = 10.0, extra_config: str = "") -> Frr:
        if not self.installed():
            raise NetnsError("FRR is not installed (scripts/setup installs frr)")
        self.directory.mkdir(parents=True, exist_ok=True)
        shutil.chown(self.directory, "frr", "frr")
        self.directory.chmod(0o775)
        zserv = self.directory / "zserv.api"
        for daemon in ("zebra", "bgpd"):
            if self.pid(daemon) is not None:
                continue
            (self.directory / f"{daemon}.vty").unlink(missing_ok=True)  # a dead daemon's, after a power cut
            conf = self.directory / f"{daemon}.conf"
            conf.write_text(f"frr defaults datacenter\nhostname {self.hostname}\n{extra_config}")
            shutil.chown(conf, "frr", "frr")
            argv = [
                f"/usr/lib/frr/{daemon}",
                "-d",
                "-f",
                str(conf),
                "-i",
                str(self.directory / f"{daemon}.pid"),
                "-z",
                str(zserv),
                "--vty_socket",
                str(self.directory),
                "-u",
                "frr",
                "-g",
                "frr",
            ]
            if daemon == "bgpd":
                argv += ["-p", "179"]
            subprocess.run(
                ["ip", "netns", "exec", self.netns, *argv],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                timeout=timeout,
                check=False,
            )
            deadline = time.monotonic() + timeout
            while not (self.directory / f"{daemon}.vty").exists():
                if time.monotonic() > deadline:
                    raise NetnsError(f"FRR's {daemon} did not start in {self.netns} within {timeout:g}s")
                time.sleep(0.05)
        return self

    def vtysh(self, *commands: str) -> str:
        argv = ["vtysh", "--vty_socket", self.vty_socket]
        for command in commands:
            argv += ["-c", command]
        return run_in(self.netns, *argv).stdout

    def stop(self) -> None:
        for daemon in ("bgpd", "zebra"):
            pid = self.pid(daemon)
            if pid is not None:
                os.kill(pid, signal.SIGTERM)
                deadline = time.monotonic() + 3
                while is_running(pid) and time.monotonic() < deadline:
                    time.sleep(0.05)
                if is_running(pid):
                    os.kill(pid, signal.SIGKILL)
