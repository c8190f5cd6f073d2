"""A seeded fault campaign in a lab of its own (:mod:`pvc_lab.campaign`): trial after trial, a fault drawn by
the seed from eleven kinds (a power cut, pvcd killed, pvcd paused within the session timeout, within the
grace and past it, a node cut off, a ZooKeeper member killed, the whole ensemble down 30 s, a node dying
with its BMC unreachable, a Ceph OSD killed, the primary cut off while it fences another node) is caused
for real, the cluster settles, the fault is undone, and the invariants are checked: never a VM on two
nodes, never a recovery before a confirmed fence and blocklist, no ZooKeeper data lost, every VM back within
``--recovery`` seconds.

It writes a JSON report (every trial: fault, node, timings, violations) to ``bench/results/`` and prints
it; the same ``--seed`` replays the same faults in the same order.

    sudo .venv/bin/python bench/fault_campaign.py --trials 100 --seed 1
"""

from __future__ import annotations

import argparse
from collections import Counter

from _common import lab_apart, report

from pvc_lab import campaign
from pvc_lab.lab import DEMO_VNI


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--recovery", type=float, default=60.0, help="seconds every VM has to run again")
    parser.add_argument("--kinds", default=",".join(campaign.KINDS), help="the faults to draw from (comma list)")
    args = parser.parse_args()
    kinds = tuple(args.kinds.split(","))
    unknown = set(kinds) - set(campaign.KINDS)
    if unknown:
        parser.error(f"unknown kinds {', '.join(sorted(unknown))} (known: {', '.join(campaign.KINDS)})")
    with lab_apart("pvcc", "10.80.0.0/24", 28481, "campaign") as lab, lab.connect() as cluster:
        campaign.place_vms(cluster, lab, DEMO_VNI)
        trials = campaign.run(
            cluster, lab, args.trials, args.seed, args.recovery, kinds, progress=lambda t: print(t, flush=True)
        )
    recoveries = sorted(t["recovery_s"] for t in trials if t.get("recovery_s") is not None)
    report(
        "fault_campaign",
        {
            "seed": args.seed,
            "trials": len(trials),
            "faults": dict(Counter(t["fault"] for t in trials)),
            "violations": sum(len(t["violations"]) for t in trials),
            "recovery_s": {
                "median": recoveries[len(recoveries) // 2] if recoveries else None,
                "worst": recoveries[-1] if recoveries else None,
            },
            "every_trial": trials,
        },
    )


if __name__ == "__main__":
    main()
