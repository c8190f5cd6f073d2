"""Shared by the benchmarks: a throwaway ZooKeeper, percentiles, and writing results as JSON."""

from __future__ import annotations

import json
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from pvc_core.testing import ZooKeeper

RESULTS = Path(__file__).parent / "results"


@contextmanager
def zookeeper(base_port: int) -> Iterator[ZooKeeper]:
    with tempfile.TemporaryDirectory(prefix="pvc-bench-") as directory:
        server = ZooKeeper(Path(directory), size=1, base_port=base_port)
        server.start()
        try:
            yield server
        finally:
            server.stop()


@contextmanager
def lab_apart(prefix: str, subnet: str, zookeeper_port: int, connection: str) -> Iterator[Any]:
    """A lab of its own (no demo guests, no API), away from an operator's, brought down whatever happens.
    Needs root."""
    import os

    from pvc_lab.lab import Lab, LabSettings

    if os.geteuid() != 0:
        raise SystemExit("the lab needs root")
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["PVC_CONFIG_DIR"] = str(Path(tmp) / "config")
        settings = LabSettings(
            state_dir=Path(tmp) / "lab",
            prefix=prefix,
            subnet=subnet,
            zookeeper_port=zookeeper_port,
            connection_name=connection,
            vms=0,
            api_port=0,
        )
        lab = Lab(settings)
        try:
            lab.up(progress=lambda _line: None, timeout=120)
            yield lab
        finally:
            kept = Path(__file__).parent / "results" / f"{connection}-logs"  # what the nodes said, for a post-mortem
            kept.mkdir(parents=True, exist_ok=True)
            for node in settings.node_names():
                log = lab.node_dir(node) / "pvcd.log"
                if log.exists():
                    shutil.copy(log, kept / f"{node}-pvcd.log")
            lab.down(progress=lambda _line: None)


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def summary_ms(values: list[float]) -> dict[str, float]:
    """Seconds in, milliseconds out."""
    return {
        "count": len(values),
        "p50_ms": round(statistics.median(values) * 1000, 2),
        "p90_ms": round(percentile(values, 0.90) * 1000, 2),
        "p99_ms": round(percentile(values, 0.99) * 1000, 2),
        "max_ms": round(max(values) * 1000, 2),
        "mean_ms": round(statistics.fmean(values) * 1000, 2),
    }


def report(name: str, figures: dict[str, Any]) -> None:
    """Print the figures as JSON and keep a copy in bench/results/NAME.json."""
    document = {
        "benchmark": name,
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"cpus": __import__("os").cpu_count(), "python": platform.python_version()},
        **figures,
    }
    text = json.dumps(document, indent=2)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(text + "\n")
    sys.stdout.write(text + "\n")
