"""``pvc --help`` wall time (a new process each run, as a shell would start it).

.venv/bin/python bench/bench_cli_help.py [--runs 30]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from _common import report, summary_ms

PVC = str(Path(sys.executable).with_name("pvc"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    subprocess.run([PVC, "--help"], capture_output=True, check=True)  # warm the page cache
    times = []
    for _ in range(args.runs):
        started = time.perf_counter()
        subprocess.run([PVC, "--help"], capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    report("cli_help", {"what": "pvc --help, wall time per process", "wall": summary_ms(times), "target_ms": 300})


if __name__ == "__main__":
    main()
