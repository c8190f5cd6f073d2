"""What the demo shows of the lab's network: the guests' DHCP addresses, the pings they lose while one of them
migrates, while the primary hands over (the gateway moves) and through a power cut, and the upstream
router's route to the network.

Every figure comes from the guests' own consoles: each pings its peer every 0.2 s and the gateway every
0.5 s and prints every answer (:mod:`pvc_lab.guest`); a ping lost is a ``seq=`` that never answered.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from pvc_core.testing.netns import run_in
from pvc_lab import guest


def console(cluster: Any, vm: str) -> list[str]:
    return list(next(iter(cluster.vms.console(vm, lines=3000))))


@dataclass
class PingMark:
    """Where a guest's pings stood at a moment: the last seq answered, to the peer and to the gateway."""

    peer: int
    gateway: int


def mark(cluster: Any, vm: str) -> PingMark:
    lines = console(cluster, vm)
    peer = guest.ping_answers(lines, guest.PEER_PING)
    gateway = guest.ping_answers(lines, guest.GATEWAY_PING)
    return PingMark(peer[-1] if peer else -1, gateway[-1] if gateway else -1)


def lost_since(cluster: Any, vm: str, since: PingMark) -> tuple[float, float]:
    """Seconds of pings the guest lost since ``since`` (to its peer, to the gateway), counting up to its
    last answer; -1 when none answered since (the pings have not come back)."""
    lines = console(cluster, vm)
    peer = [s for s in guest.ping_answers(lines, guest.PEER_PING) if s > since.peer]
    gateway = [s for s in guest.ping_answers(lines, guest.GATEWAY_PING) if s > since.gateway]
    peer_lost = guest.lost_between(peer, since.peer + 1, max(peer)) * guest.PEER_INTERVAL if peer else -1.0
    gateway_lost = (
        guest.lost_between(gateway, since.gateway + 1, max(gateway)) * guest.GATEWAY_INTERVAL if gateway else -1.0
    )
    return round(peer_lost, 1), round(gateway_lost, 1)


def wait_answering(cluster: Any, vms: list[str], timeout: float = 60.0) -> dict[str, str]:
    """Wait until every guest has its address and answers from its peer and its gateway; their addresses."""
    deadline = time.monotonic() + timeout
    while True:
        found: dict[str, str] = {}
        for vm in vms:
            lines = console(cluster, vm)
            if guest.ping_answers(lines, guest.PEER_PING) and guest.ping_answers(lines, guest.GATEWAY_PING):
                found[vm] = guest.leased_address(lines)
        if len(found) == len(vms) or time.monotonic() > deadline:
            return found
        time.sleep(0.5)


def upstream_route(upstream_netns: str, prefix: str) -> list[str]:
    """The next hops the upstream router has for ``prefix`` (BGP, one per coordinator that advertises it)."""
    result = run_in(upstream_netns, "ip", "-j", "route", "show", prefix, check=False)
    try:
        routes = json.loads(result.stdout or "[]")
    except ValueError:
        return []
    hops: list[str] = []
    for route in routes:
        if "gateway" in route:
            hops.append(route["gateway"])
        hops += [n["gateway"] for n in route.get("nexthops", []) if "gateway" in n]
    return sorted(hops)


def resolve(from_netns: str, server: str, name: str, kind: str = "A") -> list[str]:
    """What ``server`` answers for ``name`` (``dig +short``), asked from namespace ``from_netns``: empty when
    it has no such record or does not answer within a second."""
    result = run_in(from_netns, "dig", "+short", "+time=1", "+tries=1", f"@{server}", name, kind, check=False)
    return sorted(line for line in result.stdout.splitlines() if line and not line.startswith(";"))


def wait_resolving(from_netns: str, server: str, name: str, timeout: float = 30.0) -> list[str]:
    """``resolve`` until it answers (a new primary's first sync, the address moving to it)."""
    deadline = time.monotonic() + timeout
    while True:
        found = resolve(from_netns, server, name)
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.2)
