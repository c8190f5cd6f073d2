"""The contract's version, and the check that a plugin or driver was built for it.

``CONTRACT_VERSION`` is ``MAJOR.MINOR``. The minor number grows when the contract grows in a compatible way
(a new hook, a new argument to a hook, a new optional method on a role); the major number grows when
something a plugin may rely on changes or goes away. Every plugin and driver declares the range it
supports, as a comma-separated list of comparisons::

    PVC_CONTRACT = ">=2.0,<3"          # module-level, in a plugin module
    contract: ClassVar[str] = ">=2.0,<3"  # class-level, in a driver

A plugin or driver whose range does not contain ``CONTRACT_VERSION``, or that declares none, is refused
when it loads, with one line naming it. docs/plugins.md keeps the changelog.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable

from pvc_core.errors import PluginError

CONTRACT_VERSION = "2.4"

_CLAUSE = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*(\d+)(?:\.(\d+))?\s*$")
_COMPARE: dict[str, Callable[[tuple[int, int], tuple[int, int]], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
}


def parse_version(text: str) -> tuple[int, int]:
    major, _, minor = text.partition(".")
    return int(major), int(minor or 0)


def supports(declared: str, version: str = CONTRACT_VERSION) -> bool:
    """Whether the range ``declared`` (``">=2.0,<3"``) contains ``version``; ValueError when malformed."""
    current = parse_version(version)
    clauses = [c for c in declared.split(",") if c.strip()]
    if not clauses:
        raise ValueError("an empty range")
    for clause in clauses:
        match = _CLAUSE.match(clause)
        if match is None:
            raise ValueError(f"'{clause.strip()}' is not a comparison such as '>=2.0' or '<3'")
        op, major, minor = match.groups()
        if not _COMPARE[op](current, (int(major), int(minor or 0))):
            return False
    return True


def check(what: str, declared: object) -> None:
    """Refuse ``what`` (``"plugin 'acme'"``) unless ``declared`` is a range containing this contract."""
    if declared is None:
        raise PluginError(
            f"{what} declares no PVC contract range (PVC_CONTRACT); this pvc-core implements contract "
            f"{CONTRACT_VERSION}"
        )
    if not isinstance(declared, str):
        raise PluginError(f"{what}: its PVC contract range must be a string such as '>=2.0,<3', not {declared!r}")
    try:
        ok = supports(declared)
    except ValueError as exc:
        raise PluginError(f"{what}: its PVC contract range '{declared}' is malformed: {exc}") from exc
    if not ok:
        raise PluginError(
            f"{what} was built for PVC contract {declared}, but this pvc-core implements contract "
            f"{CONTRACT_VERSION}; install a version of it built for {CONTRACT_VERSION}"
        )
