"""dnsmasq's ``--dhcp-script`` for a managed network: hands each lease change to pvcd, and at dnsmasq's
start prints the leases ZooKeeper holds (``--leasefile-ro``).

    python -m pvc_network_evpn.lease_hook SOCKET VNI ACTION [MAC ADDRESS [HOSTNAME]]

dnsmasq waits for it, so it imports almost nothing and gives up after a few seconds: a lease that could
not be recorded is recorded at its renewal (``old``).
"""

from __future__ import annotations

import json
import os
import socket
import sys

TIMEOUT = 5.0


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print("usage: lease_hook SOCKET VNI ACTION [MAC ADDRESS [HOSTNAME]]", file=sys.stderr)
        return 2
    path, vni, action, *rest = argv
    if action not in ("init", "add", "old", "del"):
        return 0  # tftp, arp-add...: nothing PVC keeps
    mac, address, hostname = ([*rest, "", "", ""])[:3]
    request = {
        "vni": int(vni),
        "action": action,
        "mac": mac,
        "address": address,
        "hostname": hostname or os.environ.get("DNSMASQ_SUPPLIED_HOSTNAME", ""),
        "expires": int(os.environ.get("DNSMASQ_LEASE_EXPIRES", "0") or 0),
    }
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(TIMEOUT)
            connection.connect(path)
            connection.sendall((json.dumps(request) + "\n").encode())
            reply = json.loads(connection.makefile("r").readline() or "{}")
    except (OSError, ValueError) as exc:
        print(f"pvc lease hook: pvcd did not answer: {exc}", file=sys.stderr)
        return 0 if action != "init" else 1
    if "error" in reply:
        print(f"pvc lease hook: {reply['error']}", file=sys.stderr)
    for line in reply.get("lines", []):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
