"""The ``ceph_cluster`` fixture: one real, throwaway Ceph cluster (mon, mgr, three memstore OSDs on
127.0.0.1, ports 26789-26790 and 26800-26899) for the whole session, started when a test first needs it.

Tests that use it are in the ``zk`` tier (real services), so ``pytest -m unit`` starts no Ceph. Without Ceph
installed (Debian's ceph-mon ceph-osd ceph-mgr ceph-common, python3-rados python3-rbd) they are skipped.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from pvc_storage_ceph.testing import TOOLS, CephCluster


@pytest.fixture(scope="session")
def ceph_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CephCluster]:
    """A running Ceph cluster for the session; stopped (its daemons only, by PID) at the end."""
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"Ceph is not installed ({missing[0]} is missing; scripts/setup test installs it)")
    pytest.importorskip("rados", reason="python3-rados is not installed")
    with CephCluster(tmp_path_factory.mktemp("ceph")) as cluster:
        yield cluster
