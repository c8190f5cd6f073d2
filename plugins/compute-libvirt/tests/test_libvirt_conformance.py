"""The compute conformance suite against libvirt's test driver (one private hypervisor per node).

The test driver forgets its domains with its connection and cannot migrate: those tests skip here and run
against real libvirtds in the lab (tests/system/test_compute_conformance_lab.py).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from pvc_compute_libvirt.driver import LibvirtCompute, LibvirtSettings
from pvc_core.testing.compute_conformance import ComputeConformance

pytestmark = pytest.mark.unit

HYPERVISOR = """<node><cpu><mhz>2000</mhz><nodes>1</nodes><sockets>1</sockets><cores>4</cores><threads>1</threads>
</cpu><memory>4194304</memory></node>"""


def stand_in_host(settings: LibvirtSettings) -> Any:
    """Just what the driver reads of the host: its config section (no daemon is needed to test a driver)."""
    return SimpleNamespace(config=SimpleNamespace(section=lambda _name: settings), node="test")


class TestLibvirtTestDriverConformance(ComputeConformance):
    @pytest.fixture
    def make_driver(self, tmp_path: Path) -> Callable[[str], LibvirtCompute]:
        def make(node: str) -> LibvirtCompute:
            hypervisor = tmp_path / f"{node}.xml"
            hypervisor.write_text(HYPERVISOR)
            settings = LibvirtSettings(uri=f"test://{hypervisor}", console_dir=str(tmp_path / "console"))
            return LibvirtCompute(stand_in_host(settings), "libvirt")

        return make

    @pytest.fixture
    def domain_xml(self) -> Callable[[str, str], str]:
        return lambda name, uuid: (
            f"<domain type='test'><name>{name}</name><uuid>{uuid}</uuid><memory unit='MiB'>256</memory>"
            "<vcpu>1</vcpu><os><type>hvm</type></os></domain>"
        )

    @pytest.fixture
    def bad_domain_xml(self) -> Callable[[str, str], str]:
        return lambda name, uuid: (
            f"<domain type='test'><name>{name}</name><uuid>{uuid}</uuid><memory unit='MiB'>256</memory>"
            "<os><type>exe</type></os></domain>"
        )


def test_an_unreachable_libvirtd_is_a_one_line_error(tmp_path: Path) -> None:
    from pvc_core.roles.compute import ComputeError

    settings = LibvirtSettings(uri=f"qemu:///system?socket={tmp_path}/nothing-here")
    with pytest.raises(ComputeError, match=r"cannot connect to libvirt at qemu:///system\?socket="):
        LibvirtCompute(stand_in_host(settings), "libvirt")
