"""Metrics a plugin adds to pvcapid's ``/metrics`` (``pvc_api_metrics``): gauges, in Prometheus' words."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from pvc_core.errors import InvalidRequest

METRIC_NAME = re.compile(r"^[a-zA-Z_:][a-zA-Z0-9_:]*$")


@dataclass(frozen=True)
class Gauge:
    """One gauge: ``name`` (``pvc_storage_health``), its help line, and its samples (labels -> value)."""

    name: str
    help: str
    samples: Sequence[tuple[Mapping[str, str], float]] = field(default_factory=tuple)

    def __post_init__(self) -> None:
        if not METRIC_NAME.match(self.name):
            raise InvalidRequest(f"'{self.name}' is not a Prometheus metric name", field="name")
        labels = {tuple(sorted(labels)) for labels, _ in self.samples}
        if len(labels) > 1:
            raise InvalidRequest(f"metric {self.name}: every sample must have the same label names", field="samples")
