"""The compute conformance suite against real libvirtds: two lab nodes' daemons, real QEMU guests, live
migration between them, and a new driver instance finding what the previous one started."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from pvc_compute_libvirt.driver import LibvirtCompute, LibvirtSettings
from pvc_core.testing.compute_conformance import ComputeConformance
from pvc_lab import guest
from pvc_lab.lab import Lab

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (network namespaces)")

NODES = {"a": "hv1", "b": "hv2"}


class TestLibvirtConformanceInTheLab(ComputeConformance):
    @pytest.fixture
    def make_driver(self, lab: Lab, tmp_path: Path) -> Callable[[str], LibvirtCompute]:
        def make(node: str) -> LibvirtCompute:
            libvirtd = lab.libvirtd(NODES[node])
            settings = LibvirtSettings(
                uri=libvirtd.uri, migration_uri=libvirtd.migration_uri, console_dir=str(tmp_path / "console")
            )
            host = SimpleNamespace(config=SimpleNamespace(section=lambda _name: settings), node=NODES[node])
            return LibvirtCompute(host, "libvirt")  # type: ignore[arg-type]

        return make

    @pytest.fixture
    def domain_xml(self, lab: Lab) -> Callable[[str, str], str]:
        vmlinuz, initrd = lab.guest_image()
        return lambda name, uuid: guest.domain_xml(name, vmlinuz, initrd, uuid=uuid)

    @pytest.fixture
    def bad_domain_xml(self, lab: Lab) -> Callable[[str, str], str]:
        vmlinuz, initrd = lab.guest_image()
        return lambda name, uuid: guest.domain_xml(name, vmlinuz, initrd, uuid=uuid).replace(
            "/usr/bin/qemu-system-x86_64", "/nonexistent/qemu"
        )
