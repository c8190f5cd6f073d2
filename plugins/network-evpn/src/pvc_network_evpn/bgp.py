"""BGP in FRR, configured through ``vtysh``: EVPN between the nodes, prefixes to the upstream routers.

Every node peers over iBGP with every other node (the cluster's AS, ``address-family l2vpn evpn`` with
``advertise-all-vni``): zebra sees each VXLAN device and bgpd advertises its VTEP (type-3) and the MACs
behind it (type-2), so VMs of one network reach each other on any node with no flooding to guess. The
coordinators also peer with the upstream routers (eBGP) and advertise every managed network's prefixes,
so the outside reaches VMs through whichever coordinator it picks. Only what PVC configured is changed
or removed; ``write memory`` is never run (FRR's own files are the operator's).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pvc_core.networks.linux import Commands
from pvc_core.roles.network import NetworkError
from pvc_network_evpn.settings import UpstreamRouter


@dataclass(frozen=True)
class BgpConfig:
    router_id: str
    peers: frozenset[str] = frozenset()  # the other nodes' VTEP addresses
    upstream: tuple[UpstreamRouter, ...] = ()  # coordinators only
    prefixes: frozenset[str] = field(default_factory=frozenset)  # coordinators only


class Bgp:
    def __init__(self, commands: Commands, asn: int, vty_socket: str = "") -> None:
        self.commands = commands
        self.asn = asn
        self.vty_socket = vty_socket
        self.applied: BgpConfig | None = None

    def vtysh(self, *commands: str) -> str:
        argv = ["vtysh", *(["--vty_socket", self.vty_socket] if self.vty_socket else [])]
        for command in commands:
            argv += ["-c", command]
        output = self.commands.run(argv)
        errors = [line for line in output.splitlines() if line.startswith("%") and "already" not in line]
        if errors:
            raise NetworkError(f"FRR refused the BGP configuration: {errors[0].lstrip('% ')}")
        return output

    def apply(self, wanted: BgpConfig) -> None:
        """Bring bgpd to ``wanted``, changing only what differs from what was applied before."""
        before = self.applied or BgpConfig(router_id="")
        lines = ["configure terminal", f"router bgp {self.asn}"]
        if self.applied is None or before.router_id != wanted.router_id:
            lines += [
                f"bgp router-id {wanted.router_id}",
                "no bgp default ipv4-unicast",
                "no bgp ebgp-requires-policy",
                "no bgp network import-check",
                "timers bgp 3 9",
            ]
        upstream_before = {u.address: u for u in before.upstream}
        upstream_now = {u.address: u for u in wanted.upstream}
        for peer in sorted(before.peers - wanted.peers):
            lines.append(f"no neighbor {peer}")
        for address in sorted(set(upstream_before) - set(upstream_now)):
            lines.append(f"no neighbor {address}")
        for peer in sorted(wanted.peers - before.peers):
            lines += [f"neighbor {peer} remote-as internal", f"neighbor {peer} timers connect 2"]
        for address, router in sorted(upstream_now.items()):
            if upstream_before.get(address) != router:
                lines += [f"neighbor {address} remote-as {router.asn}", f"neighbor {address} timers connect 2"]
        lines += ["address-family l2vpn evpn", *(f"neighbor {p} activate" for p in sorted(wanted.peers))]
        lines += ["advertise-all-vni", "exit-address-family"]
        for family, version in (("ipv4 unicast", 4), ("ipv6 unicast", 6)):
            mine = {p for p in wanted.prefixes if (":" in p) == (version == 6)}
            old = {p for p in before.prefixes if (":" in p) == (version == 6)}
            lines.append(f"address-family {family}")
            lines += [f"neighbor {a} activate" for a in sorted(upstream_now)]
            lines += [f"no network {p}" for p in sorted(old - mine)]
            lines += [f"network {p}" for p in sorted(mine - old)]
            lines.append("exit-address-family")
        self.vtysh(*lines)
        self.applied = wanted

    def sessions(self) -> dict[str, str]:
        """Peer address -> BGP state (``Established`` when up), over every address family."""
        text = self.vtysh("show bgp summary json")
        try:
            summary = json.loads(text) if text.strip() else {}
        except ValueError as exc:
            raise NetworkError("vtysh 'show bgp summary json' printed something that is not JSON") from exc
        found: dict[str, str] = {}
        for family in _families(summary):
            for peer, info in (family.get("peers") or {}).items():
                state = str(info.get("state", "unknown"))
                if found.get(peer) != "Established":
                    found[peer] = state
        return found


def _families(summary: Any) -> Iterable[dict[str, Any]]:
    if isinstance(summary, dict):
        if "peers" in summary:
            yield summary
        else:
            for value in summary.values():
                yield from _families(value)
