"""The typed roles: the network model refuses what cannot be built naming the field; DNS name helpers;
each role is an abstract class a driver must complete."""

from __future__ import annotations

import pytest

from pvc_core.errors import InvalidRequest
from pvc_core.roles import DnsDriver, NetworkDriver, StorageDriver
from pvc_core.roles.dns import check_name, is_dns_label, reverse_name, reverse_zone
from pvc_core.roles.network import AclRule, DhcpRange, Network, Reservation, Subnet


def managed(**changes: object) -> Network:
    base = Network(
        vni=100,
        name="blue",
        ipv4=Subnet("10.100.0.0/24", "10.100.0.1", DhcpRange("10.100.0.100", "10.100.0.199")),
        ipv6=Subnet("fd00:100::/64", "fd00:100::1"),
        reservations=(Reservation("52:54:00:00:00:01", "10.100.0.10", "web1"),),
    )
    return Network(**{**base.__dict__, **changes})  # type: ignore[arg-type]


def test_a_sound_network_validates() -> None:
    assert managed().validate() == managed()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"vni": 0}, "vni"),
        ({"vni": 5000, "kind": "bridged"}, "vni"),
        ({"kind": "overlay"}, "kind"),
        ({"mtu": 10000}, "mtu"),
        ({"ipv4": Subnet("10.100.0.0/33")}, "ipv4.cidr"),
        ({"ipv4": Subnet("fd00::/64")}, "ipv4.cidr"),
        ({"ipv4": Subnet("10.100.0.0/24", "10.200.0.1")}, "ipv4.gateway"),
        ({"ipv4": Subnet("10.100.0.0/24", "10.100.0.1", DhcpRange("10.100.0.200", "10.100.0.100"))}, "ipv4.dhcp"),
        ({"reservations": (Reservation("52:54:00:00:00:01", "192.0.2.1"),)}, "reservations[0].address"),
        ({"reservations": (Reservation("52:54:00:zz:00:01", "10.100.0.10"),)}, "reservations[0].mac"),
        ({"reservations": (Reservation("52:54:00:00:00:01", "10.100.0.1"),)}, "reservations[0].address"),
        ({"ipv4": Subnet("10.100.0.0/24", "10.100.0.150", DhcpRange("10.100.0.100", "10.100.0.199"))}, "ipv4.dhcp"),
        ({"ipv4": Subnet("10.100.0.0/24", "10.100.0.1", DhcpRange("10.100.0.100", "10.101.0.10"))}, "ipv4.dhcp.end"),
        ({"ipv4": Subnet("10.100.0.0/24", "10.100.0.0")}, "ipv4.gateway"),
        ({"mtu": 100}, "mtu"),
        ({"domain": "not a domain"}, "domain"),
        ({"dns_servers": ("resolver",)}, "dns_servers[0]"),
        ({"kind": "bridged", "vni": 200}, "kind"),  # a bridged network has no gateway the cluster runs
        ({"acls": (AclRule("sideways", 1, "drop"),)}, "acls[0].direction"),
        ({"acls": (AclRule("in", 1, "drop; accept"),)}, "acls[0].rule"),
    ],
)
def test_what_cannot_be_built_is_refused_naming_the_field(changes: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidRequest) as raised:
        managed(**changes).validate()
    assert raised.value.field == field


def test_reverse_zones_and_names() -> None:
    assert reverse_zone("10.100.0.0/24") == "0.100.10.in-addr.arpa"
    assert reverse_zone("10.100.0.0/16") == "100.10.in-addr.arpa"
    assert reverse_name("10.100.0.11", "0.100.10.in-addr.arpa") == "11"
    assert reverse_zone("fd00:100::/64") == "0.0.0.0.0.0.0.0.0.0.1.0.0.0.d.f.ip6.arpa"
    with pytest.raises(InvalidRequest):
        reverse_name("10.200.0.11", "0.100.10.in-addr.arpa")


def test_dns_names_are_labels_of_letters_digits_and_hyphens() -> None:
    assert is_dns_label("web-1") and not is_dns_label("-web") and not is_dns_label("web_1")
    check_name("@")
    check_name("_dmarc.web")
    with pytest.raises(InvalidRequest, match="is not a valid DNS name"):
        check_name("web 1")


@pytest.mark.parametrize("role", [StorageDriver, NetworkDriver, DnsDriver])
def test_a_role_cannot_be_used_without_its_methods(role: type) -> None:
    assert role.__abstractmethods__
    with pytest.raises(TypeError):
        role(None, "incomplete")
