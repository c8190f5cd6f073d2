"""Live migration in the lab: wall time (request -> settled on the target) and libvirt's reported downtime,
over 10 migrations of one running guest between two nodes. Needs root (it brings up its own lab).

    .venv/bin/python bench/bench_live_migration.py [--trials 10]
"""

from __future__ import annotations

import argparse
import statistics
import time

from _common import lab_apart, report

from pvc_lab import guest


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=10)
    args = parser.parse_args()
    walls, libvirt_seconds, downtimes = [], [], []
    with lab_apart("pvcb", "10.76.0.0/24", 27181, "bench") as lab, lab.connect() as cluster:
        vmlinuz, initrd = lab.guest_image()
        cluster.vms.define(guest.domain_xml("bench", vmlinuz, initrd), target="hv1")
        cluster.vms.start("bench")
        cluster.vms.wait("bench", timeout=60)
        time.sleep(5)  # let the guest finish booting
        for trial in range(args.trials):
            target = "hv2" if trial % 2 == 0 else "hv1"
            started = time.monotonic()
            cluster.vms.migrate("bench", target)
            record = cluster.vms.wait("bench", timeout=120)
            walls.append(time.monotonic() - started)
            if record.node != target or not record.last_migration.get("live"):
                raise SystemExit(f"trial {trial}: not migrated live ({record.failure_reason})")
            libvirt_seconds.append(float(record.last_migration["seconds"]))
            if record.last_migration.get("downtime_ms") is not None:
                downtimes.append(float(record.last_migration["downtime_ms"]))
            time.sleep(1)
    report(
        "live_migration",
        {
            "what": "pvc vm migrate of a running TCG guest between two lab nodes' libvirtds (peer to peer, live)",
            "trials": len(walls),
            "wall_median_s": round(statistics.median(walls), 3),
            "wall_max_s": round(max(walls), 3),
            "migrate_call_median_s": round(statistics.median(libvirt_seconds), 3),
            "downtime_median_ms": round(statistics.median(downtimes), 1) if downtimes else None,
            "downtime_max_ms": max(downtimes) if downtimes else None,
            "max_downtime_setting_ms": 300,
        },
    )


if __name__ == "__main__":
    main()
