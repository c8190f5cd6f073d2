"""The PVC programs a test runs as real processes: ``pvcd`` (pvc-core) and ``pvc`` (pvc-cli), installed next to
the Python that runs the tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PVCD = str(Path(sys.executable).with_name("pvcd"))
PVC = str(Path(sys.executable).with_name("pvc"))


def run_pvc(*args: str, env: dict[str, str] | None = None, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run the real ``pvc`` command (needs pvc-cli installed) with ``env`` added to this environment."""
    environment = dict(os.environ)
    environment.update(env or {})
    return subprocess.run([PVC, *args], capture_output=True, text=True, timeout=timeout, env=environment)
