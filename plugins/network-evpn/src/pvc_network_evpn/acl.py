"""A managed network's ACLs as one nftables table on the gateway, loaded atomically with ``nft -f -``.

Table ``inet pvc_net_<VNI>``: the base chain ``forward`` sends traffic routed into the network's bridge
to chain ``acl_in`` and traffic routed out of it to ``acl_out``; each holds the operator's rules in their
order. Only routed traffic passes the gateway: VMs of one network reach each other directly, whatever the
rules. The whole table is replaced in one transaction (an ``add``, a ``delete`` and the new table), so
there is never a moment without rules; ``nft -c`` checks the same text before a rule is stored.
"""

from __future__ import annotations

from pvc_core.errors import InvalidRequest
from pvc_core.networks.linux import Commands, bridge_name
from pvc_core.roles.network import Direction, Network, NetworkError


def table_name(vni: int) -> str:
    return f"pvc_net_{vni}"


def ruleset(network: Network) -> str:
    """The transaction that replaces the network's table."""
    table = f"inet {table_name(network.vni)}"
    bridge = bridge_name(network.vni)
    chains = {
        direction: [acl.rule for acl in sorted(network.acls, key=lambda a: a.order) if acl.direction == direction]
        for direction in (Direction.IN.value, Direction.OUT.value)
    }
    lines = [f"add table {table}", f"delete table {table}", f"table {table} {{"]
    for direction, rules in chains.items():
        lines.append(f"  chain acl_{direction} {{")
        lines += [f"    {rule}" for rule in rules]
        lines.append("  }")
    lines += [
        "  chain forward {",
        "    type filter hook forward priority filter; policy accept;",
        f'    oifname "{bridge}" jump acl_in',
        f'    iifname "{bridge}" jump acl_out',
        "  }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def check(commands: Commands, network: Network) -> None:
    """Refuse (InvalidRequest with nft's reason) rules nft would not load."""
    try:
        commands.run(["nft", "-c", "-f", "-"], input_text=ruleset(network))
    except NetworkError as exc:
        reason = exc.message.split("failed: ", 1)[-1]
        raise InvalidRequest(f"nft refuses the rules: {reason}", field="rule") from None


def apply(commands: Commands, network: Network) -> None:
    commands.run(["nft", "-f", "-"], input_text=ruleset(network))


def remove(commands: Commands, vni: int) -> None:
    table = f"inet {table_name(vni)}"
    commands.run(["nft", "-f", "-"], input_text=f"add table {table}\ndelete table {table}\n")
