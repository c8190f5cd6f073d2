"""What ``pvc network ...`` and the API's network routes ask the primary to do (``pvc_plugin_actions`` of
``builtin.networks``).

Each action takes the call's arguments (a JSON object) and answers JSON. A network is checked on its own
(:meth:`Network.validate`: ranges, subnets, gateway, DHCP range, MACs) and against the others (a VNI or
name taken, overlapping subnets); ACL rules are checked by the driver that enforces them (nft for
network-evpn) before they are stored. ``add`` and ``modify`` wait until every running node with a
network driver has built the network (or said it cannot): a network a node failed to build is taken
back, with that node's reason, so nothing is left half-made.
"""

from __future__ import annotations

import contextlib
import ipaddress
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from pvc_core.errors import AlreadyExists, Conflict, InvalidRequest, NotFound, PvcError, Timeout
from pvc_core.networks import store
from pvc_core.roles.network import AclRule, DhcpRange, Network, NetworkKind, Reservation, Subnet
from pvc_core.vms.model import NETWORK_NAME

if TYPE_CHECKING:
    from pvc_core.networks.node import NodeNetworks
    from pvc_core.vms.model import VmRecord

Action = Callable[[dict[str, Any]], Any]
BUILD_TIMEOUT = 15.0  # seconds add/modify wait for the nodes to build a network


def _vni(args: dict[str, Any]) -> int:
    value = args.get("vni")
    if isinstance(value, str) and store.is_vni(value):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest(f"vni: {value!r} is not a number", field="vni")
    return value


def _text(args: dict[str, Any], field: str) -> str | None:
    value = args.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"{field}: {value!r} is not text", field=field)
    return value


def _int(args: dict[str, Any], field: str) -> int | None:
    value = args.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidRequest(f"{field}: {value!r} is not a whole number", field=field)
    return value


def _subnet(current: Subnet | None, args: dict[str, Any], suffix: str) -> Subnet | None:
    """The IPv4 (``suffix`` "") or IPv6 ("6") subnet from ``ipnet``, ``gateway``, ``dhcp``,
    ``dhcp_start``, ``dhcp_end`` over ``current`` (an empty ``ipnet`` removes it)."""
    cidr = _text(args, f"ipnet{suffix}")
    if cidr == "":
        return None
    gateway = _text(args, f"gateway{suffix}")
    if cidr is None and current is None:
        if gateway:
            raise InvalidRequest(
                f"gateway{suffix}: a gateway needs its subnet (ipnet{suffix})", field=f"gateway{suffix}"
            )
        if suffix == "" and args.get("dhcp"):
            raise InvalidRequest("dhcp: DHCP needs an IPv4 subnet (ipnet)", field="dhcp")
        return None
    subnet = current or Subnet(cidr=cidr or "")
    if cidr is not None:
        subnet = replace(subnet, cidr=cidr)
    if gateway is not None:
        subnet = replace(subnet, gateway=gateway)
    if suffix == "":
        dhcp = args.get("dhcp")
        if dhcp is not None and not isinstance(dhcp, bool):
            raise InvalidRequest(f"dhcp: {dhcp!r} is not true or false", field="dhcp")
        start, end = _text(args, "dhcp_start"), _text(args, "dhcp_end")
        if dhcp is False:
            subnet = replace(subnet, dhcp=None)
        elif dhcp or start is not None or end is not None:
            old = subnet.dhcp
            start = start if start is not None else (old.start if old else None)
            end = end if end is not None else (old.end if old else None)
            if not start or not end:
                raise InvalidRequest("dhcp: a DHCP range needs dhcp_start and dhcp_end", field="dhcp")
            subnet = replace(subnet, dhcp=DhcpRange(start=start, end=end))
    return subnet


def network_from(args: dict[str, Any], current: Network | None = None) -> Network:
    """A network from an ``add`` or ``modify`` call's arguments, over ``current`` for a modification."""
    known = {
        "vni",
        "type",
        "name",
        "description",
        "mtu",
        "domain",
        "ipnet",
        "gateway",
        "ipnet6",
        "gateway6",
        "dhcp",
        "dhcp_start",
        "dhcp_end",
        "dns_servers",
        "wait",
    }
    unknown = sorted(set(args) - known)
    if unknown:
        raise InvalidRequest(f"{unknown[0]}: not a network setting ({', '.join(sorted(known - {'wait'}))})", unknown[0])
    network = current or Network(vni=_vni(args))
    kind = _text(args, "type")
    if kind is not None:
        if current is not None and kind != current.kind:
            raise InvalidRequest(f"type: network {current.vni} is {current.kind}; remove and add it again", "type")
        network = replace(network, kind=kind)
    name, description, domain = _text(args, "name"), _text(args, "description"), _text(args, "domain")
    network = replace(
        network,
        name=network.name if name is None else name,
        description=network.description if description is None else description,
        domain=network.domain if domain is None else domain,
    )
    mtu = _int(args, "mtu")
    if mtu is not None:
        network = replace(network, mtu=mtu)
    servers = args.get("dns_servers")
    if servers is not None:
        if not isinstance(servers, list) or not all(isinstance(s, str) for s in servers):
            raise InvalidRequest("dns_servers: a list of addresses is expected", field="dns_servers")
        network = replace(network, dns_servers=tuple(servers))
    network = replace(network, ipv4=_subnet(network.ipv4, args, ""), ipv6=_subnet(network.ipv6, args, "6"))
    if network.name and (store.is_vni(network.name) or not NETWORK_NAME.match(network.name)):
        raise InvalidRequest(f"name: '{network.name}' is not a network name (letters first, then '-', '_')", "name")
    return network.validate()


def check_against(network: Network, others: list[Network]) -> None:
    """Refuse a VNI or name already taken and subnets overlapping another network's."""
    for other in others:
        if other.vni == network.vni:
            continue
        if network.name and network.name == other.name:
            raise AlreadyExists(f"network {other.vni} is already named '{network.name}'")
        for mine in network.subnets:
            for theirs in other.subnets:
                a, b = ipaddress.ip_network(mine.cidr), ipaddress.ip_network(theirs.cidr)
                if a.version == b.version and a.overlaps(b):
                    field = "ipnet" if a.version == 4 else "ipnet6"
                    raise Conflict(f"{field}: {a} overlaps {b} of network {other.vni}")


def users(vms: list[VmRecord], network: Network) -> list[VmRecord]:
    refs = {str(network.vni), *([network.name] if network.name else [])}
    return [vm for vm in vms if any(n.network in refs for n in vm.networks)]


def summary(network: Network, states: dict[str, dict[str, dict[str, Any]]] | None = None) -> dict[str, Any]:
    data = network.to_dict()
    data["type"] = data.pop("kind")
    if states is not None:
        data["nodes"] = {
            node: found[str(network.vni)] for node, found in sorted(states.items()) if str(network.vni) in found
        }
    return data


def actions(node: NodeNetworks) -> dict[str, Action]:
    host = node.host
    zk = host.zk

    def every() -> list[Network]:
        return store.read_all(zk)

    def driver_for(network: Network) -> Any:
        driver = node.by_kind.get(network.kind)
        if driver is None:
            raise Conflict(f"the primary coordinator ({host.node}) runs no driver for {network.kind} networks")
        return driver

    def wait_built(network: Network, timeout: float) -> dict[str, dict[str, Any]]:
        """node -> state once every running node with a network driver reported on this version."""
        deadline = time.monotonic() + timeout
        while True:
            states = store.node_states(zk)
            views = [
                v
                for v in host.cluster.nodes()
                if v.alive and v.daemon_state == "run" and v.record.drivers.get("network")
            ]
            version = store.fingerprint(network)
            reported: dict[str, dict[str, Any] | None] = {}
            for view in views:
                state = states.get(view.name, {}).get(str(network.vni))
                reported[view.name] = state if state and state.get("version") == version else None
            failed = {n: s for n, s in reported.items() if s and s.get("state") == store.FAILED}
            if failed:
                return {n: s for n, s in reported.items() if s is not None}
            if all(reported.values()):
                return {n: s for n, s in reported.items() if s is not None}
            if time.monotonic() > deadline:
                missing = sorted(n for n, s in reported.items() if not s)
                raise Timeout(
                    f"network {network.vni} is stored, but {', '.join(missing) or 'the nodes'} did not report "
                    f"building it within {timeout:g}s (pvc network info {network.vni})"
                )
            node.wake()
            time.sleep(0.05)

    def store_and_build(network: Network, previous: Network | None, wait: bool) -> dict[str, Any]:
        store.save(zk, host.primary_transaction(), network, create=previous is None)
        node.wake()
        if not wait:
            return summary(network)
        states = wait_built(network, BUILD_TIMEOUT)
        failed = {n: s for n, s in states.items() if s.get("state") == store.FAILED}
        present = [n for n, s in states.items() if s.get("state") == store.PRESENT]
        if failed or not present:
            with contextlib.suppress(PvcError):  # take it back: nothing half-made
                if previous is None:
                    store.delete(zk, host.primary_transaction(), network.vni)
                else:
                    store.save(zk, host.primary_transaction(), previous, create=False)
                node.wake()
            if failed:
                where, state = sorted(failed.items())[0]
                raise Conflict(f"network {network.vni} could not be made on {where}: {state.get('reason')}")
            raise Conflict(f"no running node builds {network.kind} networks (no network driver for them)")
        return summary(network, store.node_states(zk))

    # -- networks ---------------------------------------------------------------------------------------

    def list_networks(args: dict[str, Any]) -> list[dict[str, Any]]:
        states = store.node_states(zk)
        return [summary(n, states) for n in every()]

    def info(args: dict[str, Any]) -> dict[str, Any]:
        network = store.get(zk, str(args.get("network", "")))
        data = summary(network, store.node_states(zk))
        data["vms"] = sorted(vm.name for vm in users(host.cluster.vms.list(), network))
        return data

    def add(args: dict[str, Any]) -> dict[str, Any]:
        network = network_from(args)
        others = every()
        if any(n.vni == network.vni for n in others):
            raise AlreadyExists(f"network {network.vni} exists already")
        check_against(network, others)
        return store_and_build(network, None, bool(args.get("wait", True)))

    def modify(args: dict[str, Any]) -> dict[str, Any]:
        current = store.get(zk, str(args.get("vni", "")))
        changes = {k: v for k, v in args.items() if k != "vni"}
        network = network_from(changes, current)
        check_against(network, every())
        if network == current:
            return summary(network, store.node_states(zk))
        return store_and_build(network, current, bool(args.get("wait", True)))

    def remove(args: dict[str, Any]) -> dict[str, Any]:
        network = store.get(zk, str(args.get("network", "")))
        using = users(host.cluster.vms.list(), network)
        if using:
            names = ", ".join(sorted(vm.name for vm in using))
            raise Conflict(f"network {network.vni} is in use by VM {names} (remove their interfaces first)")
        store.delete(zk, host.primary_transaction(), network.vni)
        node.wake()
        return summary(network)

    # -- DHCP reservations and leases ---------------------------------------------------------------------------

    def change(network: Network, new: Network) -> dict[str, Any]:
        new.validate()
        store.save(zk, host.primary_transaction(), new, create=False)
        node.wake()
        return summary(new)

    def dhcp_list(args: dict[str, Any]) -> list[dict[str, Any]]:
        network = store.get(zk, str(args.get("network", "")))
        return [{"mac": r.mac, "address": r.address, "hostname": r.hostname} for r in network.reservations]

    def dhcp_add(args: dict[str, Any]) -> dict[str, Any]:
        network = store.get(zk, str(args.get("network", "")))
        mac = (_text(args, "mac") or "").lower()
        address = _text(args, "address") or ""
        if network.ipv4 is None or network.ipv4.dhcp is None:
            raise Conflict(f"network {network.vni} has no DHCP (pvc network modify {network.vni} --dhcp ...)")
        if any(r.mac == mac for r in network.reservations):
            raise AlreadyExists(f"network {network.vni} has a reservation for {mac} already")
        reservation = Reservation(mac=mac, address=address, hostname=_text(args, "hostname") or "")
        new = replace(network, reservations=(*network.reservations, reservation))
        change(network, new)
        return {"mac": reservation.mac, "address": reservation.address, "hostname": reservation.hostname}

    def dhcp_remove(args: dict[str, Any]) -> dict[str, Any]:
        network = store.get(zk, str(args.get("network", "")))
        mac = (_text(args, "mac") or "").lower()
        if not any(r.mac == mac for r in network.reservations):
            raise NotFound(f"network {network.vni} has no reservation for {mac}")
        change(network, replace(network, reservations=tuple(r for r in network.reservations if r.mac != mac)))
        return {"mac": mac}

    def dhcp_leases(args: dict[str, Any]) -> list[dict[str, Any]]:
        network = store.get(zk, str(args.get("network", "")))
        leases = driver_for(network).leases(network.vni)
        return [{"mac": x.mac, "address": x.address, "hostname": x.hostname, "expires": x.expires} for x in leases]

    # -- ACLs -------------------------------------------------------------------------------------------------

    def acl_list(args: dict[str, Any]) -> list[dict[str, Any]]:
        network = store.get(zk, str(args.get("network", "")))
        return [
            {"direction": a.direction, "order": a.order, "rule": a.rule, "description": a.description}
            for a in network.acls
        ]

    def acl_add(args: dict[str, Any]) -> dict[str, Any]:
        network = store.get(zk, str(args.get("network", "")))
        if network.kind != NetworkKind.MANAGED:
            raise InvalidRequest(f"network {network.vni} is {network.kind}: ACLs apply to managed networks", "network")
        direction = _text(args, "direction") or ""
        order = _int(args, "order")
        rule = AclRule(
            direction=direction,
            order=order
            if order is not None
            else 1 + max((a.order for a in network.acls if a.direction == direction), default=0),
            rule=(_text(args, "rule") or "").strip(),
            description=_text(args, "description") or "",
        )
        if any(a.direction == rule.direction and a.order == rule.order for a in network.acls):
            raise AlreadyExists(f"network {network.vni} has an {direction} rule at order {rule.order}")
        acls = tuple(sorted((*network.acls, rule), key=lambda a: (a.direction, a.order)))
        new = replace(network, acls=acls).validate()
        driver_for(new).check_acls(new)
        change(network, new)
        return {"direction": rule.direction, "order": rule.order, "rule": rule.rule, "description": rule.description}

    def acl_remove(args: dict[str, Any]) -> dict[str, Any]:
        network = store.get(zk, str(args.get("network", "")))
        direction, order = _text(args, "direction") or "", _int(args, "order")
        if not any(a.direction == direction and a.order == order for a in network.acls):
            raise NotFound(f"network {network.vni} has no {direction} rule at order {order}")
        change(
            network,
            replace(network, acls=tuple(a for a in network.acls if (a.direction, a.order) != (direction, order))),
        )
        return {"direction": direction, "order": order}

    return {
        "list": list_networks,
        "info": info,
        "add": add,
        "modify": modify,
        "remove": remove,
        "dhcp.list": dhcp_list,
        "dhcp.add": dhcp_add,
        "dhcp.remove": dhcp_remove,
        "dhcp.leases": dhcp_leases,
        "acl.list": acl_list,
        "acl.add": acl_add,
        "acl.remove": acl_remove,
    }
