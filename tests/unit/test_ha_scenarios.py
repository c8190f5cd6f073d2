"""The HA simulator's scenarios: each runs in virtual time with the safety invariants checked after every
step, and its log must match the reviewed expected log."""

from __future__ import annotations

from pathlib import Path

import pytest

from pvc_core.ha.simulator import run_scenario

SCENARIOS = sorted(p for p in (Path(__file__).parents[1] / "ha-scenarios").iterdir() if p.is_dir())


def test_there_are_at_least_a_hundred_scenarios() -> None:
    assert len(SCENARIOS) >= 100


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[p.name for p in SCENARIOS])
def test_scenario(scenario: Path) -> None:
    log = run_scenario(scenario)
    violations = [line for line in log if "INVARIANT VIOLATED" in line]
    assert not violations, violations
    expected = (scenario / "expected.log").read_text().splitlines()
    assert log == expected, "\n".join(
        __import__("difflib").unified_diff(expected, log, "expected", "actual", lineterm="")
    )
