"""Network namespaces, veths and a bridge, through iproute2 (``ip``)."""

from __future__ import annotations

import subprocess

from pvc_lab.errors import LabError
from pvc_lab.processes import is_running, terminate


class NetnsError(LabError):
    """A namespace, veth or bridge could not be made or changed."""


def ip(*args: str, netns: str | None = None, check: bool = True) -> subprocess.CompletedProcess[str]:
    command = ["ip", *(["-n", netns] if netns else []), *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise NetnsError(f"'{' '.join(command)}' failed: {result.stderr.strip()}")
    return result


def run_nft(rules: str, netns: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Load ``rules`` (nft's syntax) in one transaction inside namespace ``netns``."""
    command = ["ip", "netns", "exec", netns, "nft", "-f", "-"]
    result = subprocess.run(command, input=rules, capture_output=True, text=True, timeout=30)
    if check and result.returncode != 0:
        raise NetnsError(f"nft in {netns} failed: {result.stderr.strip().splitlines()[-1:]}")
    return result


def list_netns() -> list[str]:
    result = ip("netns", "list", check=False)
    return [line.split()[0] for line in result.stdout.splitlines() if line.strip()]


def netns_pids(name: str) -> list[int]:
    result = ip("netns", "pids", name, check=False)
    return [int(pid) for pid in result.stdout.split() if pid.isdigit()]


def add_netns(name: str) -> None:
    if name not in list_netns():
        ip("netns", "add", name)
    ip("link", "set", "lo", "up", netns=name)


def kill_all(name: str) -> None:
    """Kill every process inside the namespace at once (SIGKILL, by PID): what a power cut does."""
    for _ in range(5):
        pids = [pid for pid in netns_pids(name) if is_running(pid)]
        if not pids:
            return
        for pid in pids:
            terminate(pid, timeout=1.0, sig=9)


def delete_netns(name: str) -> None:
    """Kill every process inside (by PID), then delete the namespace."""
    for _ in range(3):
        pids = [pid for pid in netns_pids(name) if is_running(pid)]
        if not pids:
            break
        for pid in pids:
            terminate(pid, timeout=3.0)
    ip("netns", "del", name, check=False)


def link_exists(name: str, netns: str | None = None) -> bool:
    return ip("link", "show", name, netns=netns, check=False).returncode == 0


def veth(name: str, peer: str, netns: str | None, peer_netns: str, mtu: int = 1500) -> None:
    """A veth pair: ``name`` in ``netns`` (root when None), ``peer`` in ``peer_netns``."""
    if not link_exists(name, netns):
        ip("link", "add", name, "type", "veth", "peer", "name", peer, "netns", peer_netns, netns=netns)
    ip("link", "set", name, "mtu", str(mtu), netns=netns)
    ip("link", "set", peer, "mtu", str(mtu), netns=peer_netns)


def bridge(name: str, netns: str) -> None:
    if not link_exists(name, netns):
        ip("link", "add", name, "type", "bridge", netns=netns)
    ip("link", "set", name, "up", netns=netns)


def attach(link: str, bridge_name: str, netns: str) -> None:
    ip("link", "set", link, "master", bridge_name, netns=netns)
    ip("link", "set", link, "up", netns=netns)


def address(link: str, cidr: str, netns: str | None = None) -> None:
    ip("addr", "replace", cidr, "dev", link, netns=netns)
    ip("link", "set", link, "up", netns=netns)
