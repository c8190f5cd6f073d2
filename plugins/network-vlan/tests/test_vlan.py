"""The vlan driver: on this machine's kernel (no 802.1q) a bridged network fails with one clear line and
leaves nothing; under Debian's generic kernel, in a QEMU guest, it passes the network conformance suite
and carries traffic (``vlan_in_guest.py``)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from pvc_core.roles.network import Network, NetworkError
from pvc_core.testing.kernel_guest import KernelGuest
from pvc_core.testing.netns import Netns, run_in
from pvc_network_vlan.testing import driver_in

pytestmark = pytest.mark.system
ROOT = Path(__file__).resolve().parents[3]
GUEST_MODULES = ("llc", "stp", "garp", "mrp", "8021q", "bridge", "veth")


def has_8021q() -> bool:
    return Path("/proc/net/vlan").exists() or Path("/sys/module/8021q").exists()


@pytest.fixture
def node() -> Iterator[Netns]:
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    made = Netns("pvcvlanhost").create()
    try:
        made.ip("link", "add", "trunk0", "type", "veth", "peer", "name", "trunk1")
        yield made
    finally:
        made.delete()


def test_without_8021q_a_bridged_network_fails_in_one_line_and_leaves_nothing(node: Netns) -> None:
    if has_8021q():
        pytest.skip("this kernel has 802.1q: the refusal cannot be seen here")
    driver = driver_in(node.name)
    with pytest.raises(NetworkError) as raised:
        driver.ensure(Network(vni=200, kind="bridged"))
    assert str(raised.value) == (
        "this node's kernel has no 802.1q VLAN support (module 8021q): VLAN 200 of trunk0 cannot be made"
    )
    links = run_in(node.name, "ip", "-br", "link").stdout
    assert "vlan200" not in links and "vmbr200" not in links
    assert driver.present() == []


def test_a_missing_device_is_named(node: Netns) -> None:
    with pytest.raises(NetworkError, match="the VLAN device bond7 does not exist on this node"):
        driver_in(node.name, device="bond7").ensure(Network(vni=200, kind="bridged"))


def test_the_driver_works_under_a_kernel_with_8021q(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("the guest's tests make network namespaces: root")
    missing = KernelGuest.available()
    if missing:
        pytest.skip(missing)
    script = tmp_path / "in-guest.sh"
    script.write_text(
        f"cd {ROOT}\n"
        "export TMPDIR=/run/tmp HOME=/run/tmp PYTHONDONTWRITEBYTECODE=1 PATH=/usr/sbin:/usr/bin:/sbin:/bin\n"
        f"exec {ROOT}/.venv/bin/python -m pytest -p no:cacheprovider -q -o addopts= -o python_files=vlan_in_guest.py "
        f"{ROOT}/plugins/network-vlan/tests/vlan_in_guest.py\n"
    )
    run = KernelGuest(GUEST_MODULES).run(script, timeout=600)
    assert run.status == 0, run.output[-4000:]
    assert "7 passed" in run.output, run.output[-4000:]  # the conformance suite and the two traffic tests
