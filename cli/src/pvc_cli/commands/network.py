"""``pvc network``: the cluster's client networks (managed VXLAN/EVPN and bridged VLAN), their DHCP
reservations and leases, and their ACLs.

Every command asks the primary coordinator (``builtin.networks``'s actions), so it works the same over
ZooKeeper and over the API; ``add`` and ``modify`` answer once every node has built the network.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from pvc_cli.errors import CliError
from pvc_cli.output import emit, format_option, mapping, table

if TYPE_CHECKING:
    from pvc_cli.context import CliContext

PLUGIN = "builtin.networks"


def _call(obj: CliContext, action: str, timeout: float = 30.0, **args: Any) -> Any:
    with obj.cluster() as client:
        return client.plugin_call(PLUGIN, action, {k: v for k, v in args.items() if v is not None}, timeout=timeout)


def _subnet(subnet: dict[str, Any] | None) -> str:
    if not subnet:
        return "-"
    return str(subnet["cidr"]) + (f" gw {subnet['gateway']}" if subnet.get("gateway") else "")


def _dhcp(network: dict[str, Any]) -> str:
    dhcp = (network.get("ipv4") or {}).get("dhcp")
    return f"{dhcp['start']}-{dhcp['end']}" if dhcp else "-"


def _nodes(network: dict[str, Any]) -> str:
    states = network.get("nodes") or {}
    built = sorted(n for n, s in states.items() if s.get("state") == "present")
    failed = sorted(n for n, s in states.items() if s.get("state") == "failed")
    return ", ".join(built) + (f" (failed: {', '.join(failed)})" if failed else "") if states else "-"


def network_options(function: Any) -> Any:
    options = [
        click.option("--name", default=None, help="A name VMs may use instead of the VNI."),
        click.option("--description", default=None, help="What the network is for."),
        click.option("--mtu", type=int, default=None, help="The VMs' MTU on it (default 1500)."),
        click.option("--domain", default=None, help="The DNS domain of its VMs' names (managed)."),
        click.option("--ipnet", default=None, help="Its IPv4 subnet, e.g. 10.100.0.0/24 ('' removes it)."),
        click.option("--gateway", default=None, help="The cluster's IPv4 address on it (managed)."),
        click.option("--ipnet6", default=None, help="Its IPv6 subnet ('' removes it)."),
        click.option("--gateway6", default=None, help="The cluster's IPv6 address on it (managed)."),
        click.option("--dhcp/--no-dhcp", default=None, help="Hand out IPv4 addresses by DHCP (managed)."),
        click.option("--dhcp-start", default=None, help="The first address DHCP hands out."),
        click.option("--dhcp-end", default=None, help="The last address DHCP hands out."),
        click.option("--dns-server", "dns_servers", multiple=True, help="Where names outside the domain are asked."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _settings(dns_servers: tuple[str, ...], **given: Any) -> dict[str, Any]:
    settings = {k: v for k, v in given.items() if v is not None}
    if dns_servers:
        settings["dns_servers"] = list(dns_servers)
    return settings


@click.group()
def network() -> None:
    """Client networks: managed (VXLAN with EVPN, gateway, DHCP, DNS, ACLs) and bridged (802.1q VLANs)."""


@network.command("list")
@format_option
@click.pass_obj
def network_list(obj: CliContext, output_format: str) -> None:
    """Every network: VNI, type, subnets, DHCP range, where it is built."""
    networks = _call(obj, "list")
    rows = [
        [n["vni"], n["name"] or "-", n["type"], _subnet(n.get("ipv4")), _subnet(n.get("ipv6")), _dhcp(n), _nodes(n)]
        for n in networks
    ]
    emit(networks, output_format, lambda _n: table(["VNI", "NAME", "TYPE", "IPV4", "IPV6", "DHCP", "NODES"], rows))


@network.command("info")
@click.argument("ref", metavar="NETWORK")
@format_option
@click.pass_obj
def network_info(obj: CliContext, ref: str, output_format: str) -> None:
    """One network (VNI or name): its settings, where it is built, the VMs on it."""
    found = _call(obj, "info", network=ref)

    def pretty(n: dict[str, Any]) -> str:
        return mapping(
            [
                ("vni", n["vni"]),
                ("name", n["name"] or "-"),
                ("type", n["type"]),
                ("description", n["description"] or "-"),
                ("mtu", n["mtu"]),
                ("domain", n["domain"] or "-"),
                ("ipv4", _subnet(n.get("ipv4"))),
                ("ipv6", _subnet(n.get("ipv6"))),
                ("dhcp", _dhcp(n)),
                ("dns servers", ", ".join(n["dns_servers"]) or "-"),
                ("reservations", len(n["reservations"])),
                ("acl rules", len(n["acls"])),
                ("nodes", _nodes(n)),
                ("vms", ", ".join(n.get("vms", [])) or "-"),
            ]
        )

    emit(found, output_format, pretty)


@network.command("add")
@click.argument("vni", type=int)
@click.option("--type", "kind", type=click.Choice(["managed", "bridged"]), required=True)
@network_options
@click.pass_obj
def network_add(obj: CliContext, /, vni: int, kind: str, dns_servers: tuple[str, ...], **given: Any) -> None:
    """Add network VNI (the VXLAN id of a managed network, the VLAN id of a bridged one)."""
    _call(obj, "add", 60.0, vni=vni, type=kind, **_settings(dns_servers, **given))
    click.echo(f"network {vni}: added ({kind}), built on every node")


@network.command("modify")
@click.argument("vni", type=int)
@network_options
@click.pass_obj
def network_modify(obj: CliContext, /, vni: int, dns_servers: tuple[str, ...], **given: Any) -> None:
    """Change network VNI's settings (only those given)."""
    settings = _settings(dns_servers, **given)
    if not settings:
        raise CliError("nothing to change: give at least one setting (pvc network modify --help)")
    _call(obj, "modify", 60.0, vni=vni, **settings)
    click.echo(f"network {vni}: changed on every node")


@network.command("remove")
@click.argument("ref", metavar="NETWORK")
@click.option("--yes", is_flag=True, help="Confirm: the network goes from every node.")
@click.pass_obj
def network_remove(obj: CliContext, ref: str, yes: bool) -> None:
    """Remove a network (refused while a VM has an interface on it)."""
    if not yes:
        raise CliError(f"removing network {ref} needs confirming (--yes)")
    removed = _call(obj, "remove", network=ref)
    click.echo(f"network {removed['vni']}: removed")


# -- DHCP ---------------------------------------------------------------------------------------------------


@network.group()
def dhcp() -> None:
    """A managed network's DHCP: static reservations and live leases."""


@dhcp.command("list")
@click.argument("ref", metavar="NETWORK")
@click.option("--leases", is_flag=True, help="The live leases instead of the reservations.")
@format_option
@click.pass_obj
def dhcp_list(obj: CliContext, ref: str, leases: bool, output_format: str) -> None:
    """The network's reservations (or, with --leases, its live leases)."""
    if leases:
        found = _call(obj, "dhcp.leases", network=ref)
        rows = [[x["mac"], x["address"], x["hostname"] or "-", _when(x["expires"])] for x in found]
        emit(found, output_format, lambda _x: table(["MAC", "ADDRESS", "HOSTNAME", "EXPIRES"], rows))
        return
    found = _call(obj, "dhcp.list", network=ref)
    rows = [[x["mac"], x["address"], x["hostname"] or "-"] for x in found]
    emit(found, output_format, lambda _x: table(["MAC", "ADDRESS", "HOSTNAME"], rows))


def _when(expires: float) -> str:
    import time

    if not expires:
        return "never"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(expires))


@dhcp.command("add")
@click.argument("ref", metavar="NETWORK")
@click.argument("mac")
@click.argument("address")
@click.option("--hostname", default="", help="The name the VM gets (and answers to in the network's DNS).")
@click.pass_obj
def dhcp_add(obj: CliContext, ref: str, mac: str, address: str, hostname: str) -> None:
    """Always give ADDRESS to MAC on the network."""
    _call(obj, "dhcp.add", network=ref, mac=mac, address=address, hostname=hostname)
    click.echo(f"network {ref}: {mac} gets {address}")


@dhcp.command("remove")
@click.argument("ref", metavar="NETWORK")
@click.argument("mac")
@click.pass_obj
def dhcp_remove(obj: CliContext, ref: str, mac: str) -> None:
    """Remove the reservation of MAC."""
    _call(obj, "dhcp.remove", network=ref, mac=mac)
    click.echo(f"network {ref}: reservation of {mac} removed")


# -- ACLs ------------------------------------------------------------------------------------------------------


@network.group()
def acl() -> None:
    """A managed network's firewall rules, enforced on its gateway (nftables rule bodies)."""


@acl.command("list")
@click.argument("ref", metavar="NETWORK")
@format_option
@click.pass_obj
def acl_list(obj: CliContext, ref: str, output_format: str) -> None:
    """The network's rules, by direction and order."""
    found = _call(obj, "acl.list", network=ref)
    rows = [[x["direction"], x["order"], x["rule"], x["description"] or "-"] for x in found]
    emit(found, output_format, lambda _x: table(["DIRECTION", "ORDER", "RULE", "DESCRIPTION"], rows))


@acl.command("add")
@click.argument("ref", metavar="NETWORK")
@click.option("--direction", type=click.Choice(["in", "out"]), required=True, help="in: towards its VMs.")
@click.option("--order", type=int, default=None, help="Where the rule goes (lowest first); default: last.")
@click.option("--rule", required=True, help="An nftables rule body, e.g. 'tcp dport 22 drop'.")
@click.option("--description", default="", help="What the rule is for.")
@click.pass_obj
def acl_add(obj: CliContext, ref: str, direction: str, order: int | None, rule: str, description: str) -> None:
    """Add a rule (refused, with nft's reason, when nft would not load it)."""
    added = _call(obj, "acl.add", network=ref, direction=direction, order=order, rule=rule, description=description)
    click.echo(f"network {ref}: {direction} rule {added['order']}: {added['rule']}")


@acl.command("remove")
@click.argument("ref", metavar="NETWORK")
@click.option("--direction", type=click.Choice(["in", "out"]), required=True)
@click.option("--order", type=int, required=True)
@click.pass_obj
def acl_remove(obj: CliContext, ref: str, direction: str, order: int) -> None:
    """Remove the rule at ORDER in DIRECTION."""
    _call(obj, "acl.remove", network=ref, direction=direction, order=order)
    click.echo(f"network {ref}: {direction} rule {order} removed")
