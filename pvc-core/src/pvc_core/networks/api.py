"""The network routes of the HTTP API, under ``/api/v1/plugins/network`` (pvcapid only imports this module).

Each route is the action ``pvc network ...`` asks for (:mod:`pvc_core.networks.actions`), carried out by
the primary coordinator; errors come back in the API's error shape (404 unknown network, 409 a VNI or
subnet taken or a network in use, 400 naming the field).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Blueprint, jsonify, request

from pvc_core.errors import InvalidRequest

if TYPE_CHECKING:
    from pvc_core.api_context import ApiContext


def blueprint(api: ApiContext, plugin: str) -> Blueprint:
    routes = Blueprint("network", __name__)

    def call(action: str, timeout: float = 30.0, **args: Any) -> Any:
        found = api.cluster.plugin_call(plugin, action, {k: v for k, v in args.items() if v is not None}, timeout)
        return jsonify(found)

    def body() -> dict[str, Any]:
        found = request.get_json(silent=True) if request.data else {}
        if not isinstance(found, dict):
            raise InvalidRequest("the request body must be a JSON object", field="body")
        return found

    @routes.get("")
    def network_list() -> Any:
        """Every network: VNI, type, subnets, DHCP, and where it is built."""
        return call("list")

    @routes.post("")
    def network_add() -> Any:
        """Add a network: body {vni, type (managed|bridged), name, description, mtu, domain, ipnet, gateway,
        ipnet6, gateway6, dhcp, dhcp_start, dhcp_end, dns_servers}; answers once every node built it."""
        return call("add", 60.0, **body())

    @routes.get("/<network>")
    def network_info(network: str) -> Any:
        """One network (by VNI or name), where it is built and the VMs on it."""
        return call("info", network=network)

    @routes.put("/<int:vni>")
    def network_modify(vni: int) -> Any:
        """Change a network: the body's settings replace its own (an empty ipnet removes a subnet)."""
        return call("modify", 60.0, **{**body(), "vni": vni})

    @routes.delete("/<network>")
    def network_remove(network: str) -> Any:
        """Remove a network; refused while a VM has an interface on it."""
        return call("remove", network=network)

    @routes.get("/<network>/dhcp")
    def dhcp_list(network: str) -> Any:
        """The network's static DHCP reservations."""
        return call("dhcp.list", network=network)

    @routes.post("/<network>/dhcp")
    def dhcp_add(network: str) -> Any:
        """Reserve an address: body {mac, address, hostname}."""
        return call("dhcp.add", **{**body(), "network": network})

    @routes.delete("/<network>/dhcp/<mac>")
    def dhcp_remove(network: str, mac: str) -> Any:
        """Remove the reservation of a MAC address."""
        return call("dhcp.remove", network=network, mac=mac)

    @routes.get("/<network>/leases")
    def dhcp_leases(network: str) -> Any:
        """The live DHCP leases of the network."""
        return call("dhcp.leases", network=network)

    @routes.get("/<network>/acl")
    def acl_list(network: str) -> Any:
        """The network's ACL rules, by direction and order."""
        return call("acl.list", network=network)

    @routes.post("/<network>/acl")
    def acl_add(network: str) -> Any:
        """Add an ACL rule: body {direction (in|out), order, rule, description}; a rule the gateway's
        firewall refuses is refused with its reason."""
        return call("acl.add", **{**body(), "network": network})

    @routes.delete("/<network>/acl/<direction>/<int:order>")
    def acl_remove(network: str, direction: str, order: int) -> Any:
        """Remove the ACL rule at ``order`` in ``direction``."""
        return call("acl.remove", network=network, direction=direction, order=order)

    return routes
