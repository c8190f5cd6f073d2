"""Telling a network's VMs at once that the gateway moved: gratuitous ARP for IPv4 (unsolicited neighbour
advertisements for IPv6 are the kernel's, with ``ndisc_notify``).

A gratuitous ARP is an ARP request and a reply for the gateway's own address, from the new primary's
bridge, broadcast: every VM on the network updates its neighbour entry without waiting for it to go
stale. Sent from a thread that enters the driver's network namespace first when it has one (a socket
belongs to the namespace of the thread that made it).
"""

from __future__ import annotations

import socket
import struct
import threading

from pvc_core.networks.linux import enter_netns
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
