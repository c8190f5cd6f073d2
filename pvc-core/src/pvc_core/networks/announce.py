"""Telling a segment at once that an address moved to this node (a network's gateway, the cluster DNS
address): gratuitous ARP for IPv4 (unsolicited neighbour advertisements for IPv6 are the kernel's, with
``ndisc_notify``). Part of the contract since 2.3 (it was the evpn plugin's own before).

A gratuitous ARP is an ARP request and a reply for the address, from the interface that now holds it,
broadcast: every host on the segment updates its neighbour entry without waiting for it to go stale.
Sent from a thread that enters the given network namespace first when there is one (a socket belongs to
the namespace of the thread that made it).
"""

from __future__ import annotations

import ipaddress
import socket
import struct
import threading

from pvc_core.networks.linux import Commands, enter_netns
from pvc_core.roles.network import NetworkError

ETH_P_ARP = 0x0806


def _frame(mac: bytes, address: bytes, operation: int) -> bytes:
    broadcast = b"\xff" * 6
    header = broadcast + mac + struct.pack("!H", ETH_P_ARP)
    arp = struct.pack("!HHBBH", 1, 0x0800, 6, 4, operation) + mac + address
    arp += (broadcast if operation == 2 else b"\x00" * 6) + address
    return header + arp


def _send(interface: str, mac: str, address: str, count: int) -> None:
    raw_mac = bytes.fromhex(mac.replace(":", ""))
    raw_address = socket.inet_aton(address)
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW) as sock:
        sock.bind((interface, 0))
        for _ in range(count):
            sock.send(_frame(raw_mac, raw_address, 1))
            sock.send(_frame(raw_mac, raw_address, 2))


def gratuitous_arp(interface: str, mac: str, address: str, netns: str = "", count: int = 2) -> None:
    """Broadcast ``count`` gratuitous ARP requests and replies for ``address`` (ours, on ``interface``)."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            if netns:
                enter_netns(netns)
            _send(interface, mac, address, count)
        except OSError as exc:
            failure.append(exc)

    thread = threading.Thread(target=run, name="gratuitous-arp", daemon=True)
    thread.start()
    thread.join(timeout=5)
    if failure:
        raise NetworkError(f"gratuitous ARP for {address} on {interface} failed: {failure[0]}")


def take_address(device: str, cidr: str, netns: str = "", timeout: float = 10.0) -> None:
    """Hold ``cidr`` (``10.0.0.53/24``) on ``device`` and tell the segment (gratuitous ARP for IPv4): a
    floating address that follows the primary, like the cluster DNS address. NetworkError on failure."""
    commands = Commands(netns, timeout)
    interface = ipaddress.ip_interface(cidr)
    extra = ["nodad"] if interface.version == 6 else []
    commands.ip("addr", "replace", str(interface), "dev", device, *extra)
    if interface.version == 4:
        links = commands.ip_json("link", "show", "dev", device)
        mac = str(links[0].get("address", "")) if links else ""
        if mac:
            gratuitous_arp(device, mac, str(interface.ip), netns)


def give_up_address(device: str, cidr: str, netns: str = "", timeout: float = 10.0) -> bool:
    """Remove ``cidr`` from ``device`` when it is there (True when it was). NetworkError on failure."""
    commands = Commands(netns, timeout)
    interface = ipaddress.ip_interface(cidr)
    held = {
        f"{a.get('local')}/{a.get('prefixlen')}"
        for link in commands.ip_json("addr", "show", "dev", device)
        for a in link.get("addr_info", [])
    }
    if str(interface) not in held:
        return False
    commands.ip("addr", "del", str(interface), "dev", device)
    return True
