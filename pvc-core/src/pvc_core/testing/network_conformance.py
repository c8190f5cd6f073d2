"""The network-role conformance suite (a skeleton the first network drivers fill): what every network
driver must do on a node, as pytest tests.

A driver's test module subclasses :class:`NetworkConformance` (in a class named ``Test...``) and provides
``make_driver() -> NetworkDriver`` working in a place the tests may change (a network namespace of their
own), and ``network`` (a :class:`pvc_core.roles.network.Network` of a kind the driver builds). The
network-evpn and network-vlan plugins run it for real (network namespaces; VLANs in a QEMU guest where the
host kernel has no 802.1q). Every test removes what it made.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import pytest

from pvc_core.errors import PvcError
from pvc_core.roles.network import Network, NetworkDriver
from pvc_core.vms.model import VmNetwork

MakeDriver = Callable[[], NetworkDriver]


class NetworkConformance:
    """Subclass as ``class TestMyNetworkConformance(NetworkConformance)`` and provide the fixtures."""

    @pytest.fixture
    def driver(self, make_driver: MakeDriver, network: Network) -> Iterator[NetworkDriver]:
        driver = make_driver()
        yield driver
        with contextlib.suppress(PvcError):
            driver.remove_services(network.vni)
        with contextlib.suppress(PvcError):
            driver.remove(network.vni)

    def test_the_driver_builds_the_networks_kind(self, driver: NetworkDriver, network: Network) -> None:
        assert network.kind in driver.kinds
        network.validate()

    def test_ensure_makes_the_network_present_and_is_idempotent(self, driver: NetworkDriver, network: Network) -> None:
        driver.ensure(network)
        driver.ensure(network)
        assert network.vni in driver.present()

    def test_remove_takes_it_away_and_is_idempotent(self, driver: NetworkDriver, network: Network) -> None:
        driver.ensure(network)
        driver.remove(network.vni)
        driver.remove(network.vni)
        assert network.vni not in driver.present()

    def test_an_interface_serves_the_vms_network(self, driver: NetworkDriver, network: Network) -> None:
        driver.ensure(network)
        device = driver.interface(network, VmNetwork(str(network.vni), "52:54:00:00:00:01", "virtio"))
        assert (device.kind, device.key) == ("network", str(network.vni))
        assert device.xml.lstrip().startswith("<interface")

    def test_services_start_and_stop_idempotently(self, driver: NetworkDriver, network: Network) -> None:
        driver.ensure(network)
        driver.ensure_services(network)
        driver.ensure_services(network)
        driver.remove_services(network.vni)
        driver.remove_services(network.vni)
