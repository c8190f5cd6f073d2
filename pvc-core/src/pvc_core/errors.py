"""PVC's error types.

Every failure an operator can see derives from :class:`PvcError`, whose ``str()`` is one line saying what
went wrong, why, and (where there is one) what to do about it. Backend exceptions (kazoo, pydantic,
stevedore, a driver's library) are turned into these at the boundary with ``raise ... from exc``.
"""

from __future__ import annotations


class PvcError(Exception):
    """Root of every PVC error; its message is one line meant for an operator."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))

    @property
    def message(self) -> str:
        return str(self)


class ConfigError(PvcError):
    """The node config file is missing, unreadable or invalid."""


class PluginError(PvcError):
    """A plugin or driver that is enabled is missing, fails to load, or misbehaves at load time."""


class ZooKeeperUnavailable(PvcError):
    """ZooKeeper could not be reached or did not answer in time."""


class SchemaError(PvcError):
    """The cluster's ZooKeeper tree is missing, too new, or cannot be migrated."""


class NotFound(PvcError):
    """A named object (node, plugin, connection) does not exist."""


class InvalidRequest(PvcError):
    """A request is well-formed but not allowed in the current state."""


class Busy(PvcError):
    """Another operation holds the object; retry when it has finished."""
