"""The ``fabric`` fixture: two nodes, an upstream router and a switch in network namespaces, with FRR.

These tests need root (network namespaces) and FRR, dnsmasq and nftables (scripts/setup test installs
them); they are in the ``system`` tier, with ZooKeeper for the leases.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from pvc_core.client import Cluster
from pvc_core.testing.netns import Frr
from pvc_network_evpn.testing import Fabric


@pytest.fixture
def fabric(tmp_path: Path, cluster: Cluster) -> Iterator[Fabric]:
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    if not Frr.installed() or shutil.which("dnsmasq") is None or shutil.which("nft") is None:
        pytest.skip("FRR, dnsmasq or nftables is not installed (scripts/setup test installs them)")
    made = Fabric(tmp_path, cluster.zk)
    try:
        yield made.start()
    finally:
        made.close()
