"""Every session a developer or CI runs. Sessions use the project's venv (``scripts/setup test`` makes it).

.venv/bin/nox                 lint, typecheck, contracts, tests (what CI runs)
.venv/bin/nox -s unit         the fast tier (no services), seconds
.venv/bin/nox -s tests -- -m zk      one tier; anything after -- goes to pytest
.venv/bin/nox -s bench        the benchmarks, JSON into bench/results/
"""

from __future__ import annotations

import sys
from pathlib import Path

import nox

nox.options.default_venv_backend = "none"
nox.options.sessions = ["lint", "typecheck", "contracts", "tests"]

ROOT = Path(__file__).parent
PYTHON = sys.executable  # the venv nox runs from


# what ``scripts/setup test`` adds to an operator's install: the tests need both installed
TEST_PLUGINS = [ROOT / "plugins" / "_template", ROOT / "tests" / "plugins" / "pvc-test-plugin"]


def _test_plugins(session: nox.Session) -> None:
    """The tests need the template and the third-party test plugin installed; operators' installs get neither."""
    editable = [arg for path in TEST_PLUGINS for arg in ("-e", str(path))]
    session.run(PYTHON, "-m", "pip", "install", "-q", "--no-deps", *editable, silent=True)


@nox.session
def tests(session: nox.Session) -> None:
    """All tiers: unit, zk (real ZooKeeper), system (the lab; needs root)."""
    _test_plugins(session)
    session.run(PYTHON, "-m", "pytest", *session.posargs)


@nox.session
def unit(session: nox.Session) -> None:
    """The fast tier: no services."""
    _test_plugins(session)
    session.run(PYTHON, "-m", "pytest", "-m", "unit", "-q", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.run(PYTHON, "-m", "ruff", "check", ".")
    session.run(PYTHON, "-m", "ruff", "format", "--check", ".")


@nox.session
def typecheck(session: nox.Session) -> None:
    session.run(PYTHON, "-m", "mypy")


@nox.session
def contracts(session: nox.Session) -> None:
    """import-linter: the core imports no plugin; no plugin imports another."""
    _test_plugins(session)  # both are among the contracts' packages
    session.run(str(Path(PYTHON).with_name("lint-imports")))


@nox.session
def bench(session: nox.Session) -> None:
    """Benchmarks with their default sizes; each prints JSON and writes it to bench/results/.

    Choose some by name: ``nox -s bench -- dispatch_latency primary_failover``.
    """
    chosen = set(session.posargs)
    for script in sorted((ROOT / "bench").glob("bench_*.py")):
        if not chosen or script.stem.removeprefix("bench_") in chosen:
            session.run(PYTHON, str(script))
