"""The vlan driver for real, under a kernel with 802.1q: run by ``test_vlan.py`` inside a QEMU guest
booting Debian's generic kernel (this file is not collected on the host, whose kernel may lack 8021q).

The network conformance suite, and VMs on two nodes joined by a trunk: the same VLAN reaches across, two
VLANs do not see each other, and the frames on the trunk carry their VLAN tag.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from pvc_core.roles.network import Network, NetworkDriver
from pvc_core.testing.netns import Netns
from pvc_core.testing.network_conformance import NetworkConformance
from pvc_network_vlan.testing import Trunk


@pytest.fixture
def trunk() -> Iterator[Trunk]:
    made = Trunk()
    try:
        yield made.start()
    finally:
        made.close()


def pings(vm: Netns, address: str) -> bool:
    return vm.run("busybox", "ping", "-c", "1", "-W", "1", address, check=False).returncode == 0


class TestVlanConformance(NetworkConformance):
    @pytest.fixture
    def make_driver(self, trunk: Trunk) -> Callable[[], NetworkDriver]:
        return lambda: trunk.drivers()[0]

    @pytest.fixture
    def network(self) -> Network:
        return Network(vni=200, kind="bridged")


def test_vms_on_one_vlan_reach_each_other_across_the_trunk_and_not_another_vlans(trunk: Trunk) -> None:
    for driver in trunk.drivers():
        driver.ensure(Network(vni=200, kind="bridged"))
        driver.ensure(Network(vni=201, kind="bridged"))
    here = trunk.vm(0, 200, "192.0.2.1/24")
    there = trunk.vm(1, 200, "192.0.2.2/24")
    elsewhere = trunk.vm(1, 201, "192.0.2.3/24")
    assert pings(here, "192.0.2.2")
    assert not pings(here, "192.0.2.3")
    assert not pings(elsewhere, "192.0.2.1")
    assert there.exists()


def test_the_vlan_is_a_tagged_sub_interface_of_the_device(trunk: Trunk) -> None:
    driver = trunk.drivers()[0]
    driver.ensure(Network(vni=200, kind="bridged", mtu=1400))
    details = trunk.nodes[0].ip("-d", "link", "show", "vlan200").stdout
    assert "vlan protocol 802.1Q id 200" in details
    assert "master vmbr200" in details and "mtu 1400" in details
    assert driver.present() == [200]
