"""A short seeded fault campaign on the tests' lab (:mod:`pvc_lab.campaign`; the 100-trial one is
``bench/fault_campaign.py``): three faults of kinds that end quickly, every invariant checked."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from lab_support import put_back

from pvc_core.client import Cluster
from pvc_lab import campaign
from pvc_lab.lab import DEMO_VNI, Lab

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="the lab needs root (network namespaces)")

QUICK = ("pvcd_pause_within_grace", "osd_kill", "power_cut")


@pytest.fixture
def cluster(lab: Lab) -> Iterator[Cluster]:
    with lab.connect() as client:
        try:
            yield client
        finally:
            campaign.bring_back(client, lab, 240.0)
            campaign.remove_vms(client)
            put_back(lab, client)


@pytest.mark.timeout(900)
def test_a_short_campaign_breaks_no_invariant(lab: Lab, cluster: Cluster) -> None:
    campaign.place_vms(cluster, lab, DEMO_VNI)
    trials = campaign.run(cluster, lab, trials=len(QUICK), seed=7, kinds=QUICK)
    assert [t["violations"] for t in trials] == [[]] * len(QUICK), trials
    assert all(t["recovery_s"] is not None for t in trials)
