"""What ``pvc network add|modify`` asks, checked before anything is stored: the arguments become a valid
network or one line naming the field; a network is checked against the others (VNI, name, subnets)."""

from __future__ import annotations

import pytest

from pvc_core.errors import AlreadyExists, Conflict, InvalidRequest
from pvc_core.networks.actions import check_against, network_from, users
from pvc_core.networks.store import find, fingerprint, is_vni
from pvc_core.roles.network import Network, Subnet
from pvc_core.vms.model import VmNetwork, VmRecord

pytestmark = pytest.mark.unit

ADD = {
    "vni": 100,
    "type": "managed",
    "name": "blue",
    "ipnet": "10.100.0.0/24",
    "gateway": "10.100.0.1",
    "dhcp": True,
    "dhcp_start": "10.100.0.100",
    "dhcp_end": "10.100.0.199",
    "domain": "blue.example",
}


def test_add_arguments_become_a_network() -> None:
    network = network_from(ADD)
    assert (network.vni, network.kind, network.name, network.domain) == (100, "managed", "blue", "blue.example")
    assert network.ipv4 is not None and network.ipv4.dhcp is not None
    assert (network.ipv4.cidr, network.ipv4.gateway, network.ipv4.dhcp.start) == (
        "10.100.0.0/24",
        "10.100.0.1",
        "10.100.0.100",
    )


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"vni": 16_777_216}, "vni"),
        ({"vni": "blue"}, "vni"),
        ({"vni": 5000, "type": "bridged", "gateway": None, "dhcp": None, "dhcp_start": None, "dhcp_end": None}, "vni"),
        ({"mtu": 9001}, "mtu"),
        ({"mtu": "big"}, "mtu"),
        ({"gateway": "10.200.0.1"}, "ipv4.gateway"),
        ({"dhcp_start": "10.99.0.1"}, "ipv4.dhcp.start"),
        ({"dhcp_start": "10.100.0.1", "dhcp_end": "10.100.0.50"}, "ipv4.dhcp"),  # crosses the gateway
        ({"dhcp_end": None}, "dhcp"),
        ({"ipnet": "10.100.0.1/24"}, "ipv4.cidr"),
        ({"name": "100"}, "name"),
        ({"colour": "blue"}, "colour"),
    ],
)
def test_bad_arguments_are_refused_naming_the_field(changes: dict[str, object], field: str) -> None:
    args = {k: v for k, v in {**ADD, **changes}.items() if v is not None}
    with pytest.raises(InvalidRequest) as raised:
        network_from(args)
    assert raised.value.field == field


def test_dhcp_without_a_subnet_is_refused() -> None:
    with pytest.raises(InvalidRequest, match="DHCP needs an IPv4 subnet"):
        network_from({"vni": 7, "type": "managed", "dhcp": True})


def test_a_modification_keeps_what_it_does_not_name() -> None:
    current = network_from(ADD)
    changed = network_from({"description": "the blue team", "mtu": 9000}, current)
    assert (changed.description, changed.mtu, changed.ipv4) == ("the blue team", 9000, current.ipv4)
    assert network_from({"ipnet": ""}, current).ipv4 is None or pytest.fail("an empty ipnet removes the subnet")


def test_the_type_of_a_network_cannot_change() -> None:
    with pytest.raises(InvalidRequest, match="remove and add it again"):
        network_from({"type": "bridged"}, network_from(ADD))


def test_a_taken_name_and_overlapping_subnets_are_refused() -> None:
    blue = network_from(ADD)
    with pytest.raises(AlreadyExists, match="already named 'blue'"):
        check_against(Network(vni=101, name="blue"), [blue])
    overlapping = Network(vni=101, ipv4=Subnet("10.100.0.128/25", "10.100.0.129"))
    with pytest.raises(Conflict, match=r"10.100.0.128/25 overlaps 10.100.0.0/24 of network 100"):
        check_against(overlapping, [blue])
    check_against(Network(vni=101, ipv4=Subnet("10.101.0.0/24", "10.101.0.1")), [blue])


def test_a_network_is_found_by_vni_or_name_and_its_users_by_either() -> None:
    blue = network_from(ADD)
    assert find([blue], "100") == blue and find([blue], "blue") == blue and find([blue], "red") is None
    vms = [
        VmRecord(uuid="a", name="web1", networks=(VmNetwork("blue", "52:54:00:00:00:01"),)),
        VmRecord(uuid="b", name="web2", networks=(VmNetwork("100", "52:54:00:00:00:02"),)),
        VmRecord(uuid="c", name="db1", networks=(VmNetwork("200", "52:54:00:00:00:03"),)),
    ]
    assert [vm.name for vm in users(vms, blue)] == ["web1", "web2"]


def test_a_changed_network_has_another_fingerprint() -> None:
    blue = network_from(ADD)
    assert fingerprint(blue) == fingerprint(network_from(ADD))
    assert fingerprint(blue) != fingerprint(network_from({"mtu": 9000}, blue))


def test_a_vni_is_written_in_ascii_digits_only() -> None:
    assert is_vni("100") and not is_vni("²") and not is_vni("١٠٠") and not is_vni("blue") and not is_vni("")
    with pytest.raises(InvalidRequest) as raised:
        network_from({**ADD, "vni": "²"})
    assert raised.value.field == "vni"
