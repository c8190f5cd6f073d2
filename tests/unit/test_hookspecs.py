"""The contract: every hook is documented, named pvc_*, and says when, where and what it returns."""

from __future__ import annotations

import inspect

import pytest

from pvc_core import hookspecs

HOOKS = [
    (name, function)
    for name, function in inspect.getmembers(hookspecs, inspect.isfunction)
    if function.__module__ == hookspecs.__name__
]


def test_the_contract_has_hooks() -> None:
    assert len(HOOKS) >= 10


@pytest.mark.parametrize(("name", "function"), HOOKS, ids=[name for name, _ in HOOKS])
def test_every_hook_is_documented(name: str, function: object) -> None:
    assert name.startswith("pvc_"), f"{name}: hooks are prefixed pvc_"
    doc = inspect.getdoc(function) or ""
    for part in ("When:", "Where:", "Return"):
        assert part in doc, f"{name}: its docstring must say '{part}'"
    assert "raise" in doc.lower(), f"{name}: its docstring must say whether it may raise"


@pytest.mark.parametrize(("name", "function"), HOOKS, ids=[name for name, _ in HOOKS])
def test_every_hook_is_a_pluggy_spec(name: str, function: object) -> None:
    assert hasattr(function, "pvc_spec"), f"{name} is not marked with the pvc hookspec marker"


def test_every_hook_is_in_the_plugin_authors_guide() -> None:
    from pathlib import Path

    guide = (Path(__file__).parents[2] / "docs" / "plugins.md").read_text()
    missing = [name for name, _ in HOOKS if name not in guide]
    assert not missing, f"hooks missing from docs/plugins.md: {missing}"
