"""The system tier's shared lab: one cluster (ZooKeeper, 3 nodes with libvirtd and pvcd) for the session."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

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


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """When a lab test fails, keep the nodes' logs (``pvc lab down`` removes the lab's folder) beside the
    session's temporary files, and say where."""
    report = yield
    lab = item.funcargs.get("lab") if hasattr(item, "funcargs") else None
    if report.failed and isinstance(lab, Lab) and lab.state.exists():
        kept = item.config._tmp_path_factory.getbasetemp() / "lab-logs" / f"{item.name}-{report.when}"  # type: ignore[attr-defined]
        for log in sorted(lab.state.glob("*/*.log")) + sorted(lab.state.glob("*/ceph/*.log")):
            target = kept / log.relative_to(lab.state)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(log, target)
        report.sections.append(("lab logs", f"the nodes' logs are kept in {kept}"))
    return report
