"""Helpers for Linux network drivers (since contract 2.2): iproute2 with a timeout, links as JSON, the
VMs' bridge, and the libvirt ``<interface>`` on it.

Both of PVC's network drivers use these; a third-party driver may too. Every command runs with a timeout
and fails as one :class:`pvc_core.roles.network.NetworkError` line naming the command and iproute2's
reason. ``netns`` runs the commands in a named network namespace (``ip netns exec``): tests and labs
that drive a node's networks from outside it; a node's own pvcd leaves it empty.
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import quoteattr

from pvc_core.roles.network import NetworkError

CLONE_NEWNET = 0x40000000
BRIDGE_PREFIX = "vmbr"  # the VMs' bridge of network VNI is vmbrVNI on every node, whatever its kind


def enter_netns(name: str) -> None:
    """Move the calling thread into network namespace ``name`` (``/run/netns/NAME``); only that thread moves,
    and sockets it makes from then on belong to the namespace. OSError when it cannot."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(f"/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {name} failed")
    finally:
        os.close(fd)


def bridge_name(vni: int) -> str:
    return f"{BRIDGE_PREFIX}{vni}"


class Commands:
    """Runs the host's networking commands (``ip``, ``bridge``, ``nft``, ``vtysh``...) for a driver."""

    def __init__(self, netns: str = "", timeout: float = 10.0) -> None:
        self.netns = netns
        self.timeout = timeout

    def argv(self, argv: Sequence[str]) -> list[str]:
        return [*(["ip", "netns", "exec", self.netns] if self.netns else []), *argv]

    def run(self, argv: Sequence[str], input_text: str | None = None, check: bool = True) -> str:
        """Run ``argv`` to completion; its standard output, or NetworkError with its last line of error."""
        command = self.argv(argv)
        try:
            result = subprocess.run(
                command, input=input_text, capture_output=True, text=True, timeout=self.timeout, check=False
            )
        except FileNotFoundError as exc:
            raise NetworkError(f"'{argv[0]}' is not installed") from exc
        except subprocess.TimeoutExpired as exc:
            raise NetworkError(f"'{' '.join(argv)}' did not finish within {self.timeout:g}s") from exc
        if check and result.returncode != 0:
            lines = [line.strip() for line in (result.stderr or result.stdout).splitlines() if line.strip()]
            raise NetworkError(f"'{' '.join(argv)}' failed: {'; '.join(lines[-3:]) or 'no message'}")
        return result.stdout

    def ip(self, *args: str, check: bool = True) -> str:
        return self.run(["ip", *args], check=check)

    def ip_json(self, *args: str) -> list[dict[str, Any]]:
        text = self.run(["ip", "-j", *args])
        try:
            found = json.loads(text) if text.strip() else []
        except ValueError as exc:
            raise NetworkError(f"'ip -j {' '.join(args)}' printed something that is not JSON") from exc
        return [item for item in found if isinstance(item, dict)]

    def links(self, kind: str | None = None) -> dict[str, dict[str, Any]]:
        """Links by name (``ip -d link show [type KIND]``)."""
        args = ["-d", "link", "show", *(["type", kind] if kind else [])]
        return {link["ifname"]: link for link in self.ip_json(*args) if "ifname" in link}

    def link_exists(self, name: str) -> bool:
        return name in self.links()

    def ensure_bridge(self, name: str, mtu: int) -> None:
        """The VMs' bridge (no STP, forwarding at once), up, with ``mtu``."""
        if name not in self.links("bridge"):
            self.ip("link", "add", name, "type", "bridge", "stp_state", "0", "forward_delay", "0")
        self.ip("link", "set", name, "mtu", str(mtu), "up")

    def delete_link(self, name: str) -> None:
        if self.link_exists(name):
            self.ip("link", "del", name)

    def sysctl(self, key: str, value: str) -> None:
        """Write ``/proc/sys/KEY`` (dots or slashes) in the driver's namespace."""
        path = "/proc/sys/" + key.replace(".", "/") if "/" not in key else "/proc/sys/" + key
        self.run(["sh", "-c", f"echo {value} > {path}"])


def interface_xml(bridge: str, mac: str, model: str, mtu: int) -> str:
    """A VM's ``<interface>`` on ``bridge`` (libvirt's bridge type: a tap device joins it)."""
    return (
        "<interface type='bridge'>"
        f"<mac address={quoteattr(mac)}/>"
        f"<source bridge={quoteattr(bridge)}/>"
        f"<model type={quoteattr(model)}/>"
        f"<mtu size='{int(mtu)}'/>"
        "</interface>"
    )
