"""Helpers for the cross-package tests, from :mod:`pvc_core.testing` (where a third-party plugin's tests get
them too): waiting on conditions, pvcd processes, the real ``pvc`` command, compute nodes and domains."""

from __future__ import annotations

from pvc_core.testing import (
    PVC,
    PVCD,
    NodeProcess,
    Nodes,
    compute_node,
    compute_nodes_ready,
    domain_xml,
    private_hypervisor,
    run_pvc,
    wait_until,
)

__all__ = [
    "PVC",
    "PVCD",
    "NodeProcess",
    "Nodes",
    "compute_node",
    "compute_nodes_ready",
    "domain_xml",
    "private_hypervisor",
    "run_pvc",
    "wait_until",
]
