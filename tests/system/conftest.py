"""The system tier's shared lab: one cluster (ZooKeeper, 3 nodes with libvirtd and pvcd) for the session."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from pvc_lab.lab import Lab, LabSettings


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    settings = LabSettings(
        state_dir=tmp_path_factory.mktemp("vmlab") / "lab",
        prefix="pvcv",
        subnet="10.75.0.0/24",
        zookeeper_port=26181,
        connection_name="vmlab",
        vms=0,
        api_port=0,
    )
    config_dir = os.environ.get("PVC_CONFIG_DIR")
    os.environ["PVC_CONFIG_DIR"] = str(tmp_path_factory.mktemp("config"))  # keep the user's connections apart
    built = Lab(settings)
    try:
        built.up(progress=lambda _line: None, timeout=120)
        yield built
    finally:
        built.down(progress=lambda _line: None)
        if config_dir is None:
            os.environ.pop("PVC_CONFIG_DIR", None)
        else:
            os.environ["PVC_CONFIG_DIR"] = config_dir
