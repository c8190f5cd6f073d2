"""PVC's error types.

Every failure an operator can see derives from :class:`PvcError`, whose ``str()`` is one line saying what
went wrong, why, and (where there is one) what to do about it. Backend exceptions (kazoo, pydantic,
stevedore, a driver's library) are turned into these at the boundary with ``raise ... from exc``.

Each class carries what it means everywhere at once: ``code`` (the stable ``error`` key of an API error
body), ``http_status`` (what the API answers) and ``exit_code`` (what ``pvc`` exits with). The API and the
CLI map by class, here, and never by a message's text. :data:`TAXONOMY` lists the classes a client can tell
apart; docs/cli.md#exit-status-and-errors is the same table for operators (a test keeps the two equal).
"""

from __future__ import annotations

from typing import ClassVar


class PvcError(Exception):
    """Root of every PVC error; its message is one line meant for an operator.

    A failure that is none of the kinds below (a plugin, a driver, the config, the cluster's schema) is a
    fault on the serving side: HTTP 500 with its own message, exit status 1.
    """

    code: ClassVar[str] = "error"
    http_status: ClassVar[int] = 500
    exit_code: ClassVar[int] = 1

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))

    @property
    def message(self) -> str:
        return str(self)


class ConfigError(PvcError):
    """The node config file is missing, unreadable or invalid."""


class PluginError(PvcError):
    """A plugin or driver that is enabled is missing, fails to load, or misbehaves at load time."""


class StartRefused(PvcError):
    """A plugin refuses to let its node start (raised from ``pvc_daemon_start``): pvcd stops, one line."""


class SchemaError(PvcError):
    """The cluster's ZooKeeper tree is missing, too new, or cannot be migrated."""


class InvalidRequest(PvcError):
    """A request is well-formed but not allowed in the current state, or one of its values is wrong.

    ``field`` names the value at fault (``body.xml``, ``node_selector``) when there is one.
    """

    code = "invalid_request"
    http_status = 400
    exit_code = 3

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFound(PvcError):
    """A named object (node, VM, plugin, connection, fault) does not exist."""

    code = "not_found"
    http_status = 404
    exit_code = 4


class Conflict(PvcError):
    """The object changed under the request: a conditional write lost a race, or kept losing it."""

    code = "conflict"
    http_status = 409
    exit_code = 5


class AlreadyExists(Conflict):
    """An object with that name (or UUID, or path) exists already."""

    code = "already_exists"


class Busy(PvcError):
    """Another operation holds the object; retry when it has finished.

    409 like :class:`Conflict` (the object's current state refuses the request; 423 is WebDAV's), told
    apart by its ``code`` and exit status. Not a :class:`Conflict` subclass, so that compare-and-set retry
    loops, which catch :class:`Conflict`, never swallow it.
    """

    code = "busy"
    http_status = 409
    exit_code = 6


class Forbidden(PvcError):
    """The credential (an API key's role, a ZooKeeper credential) does not allow the request."""

    code = "forbidden"
    http_status = 403
    exit_code = 9


class Timeout(PvcError):
    """A wait for an operation to finish ran out of time; the operation itself may still complete.

    408, not 504: the wait is bounded by the caller's own ``timeout``, so running out of it is not a
    failure of the server (a 5xx always is one: the API's schemathesis test holds it to that).
    """

    code = "timeout"
    http_status = 408
    exit_code = 7


class Unavailable(PvcError):
    """A service PVC needs (ZooKeeper, the PVC API) could not be reached or did not answer in time."""

    code = "unavailable"
    http_status = 503
    exit_code = 8


class ZooKeeperUnavailable(Unavailable):
    """ZooKeeper could not be reached or did not answer in time."""


TAXONOMY: tuple[type[PvcError], ...] = (
    PvcError,
    InvalidRequest,
    NotFound,
    Conflict,
    AlreadyExists,
    Busy,
    Forbidden,
    Timeout,
    Unavailable,
)
"""The kinds of error a client can tell apart, one ``code`` each (subclasses share their base's code)."""


def error_class(code: str | None, http_status: int | None = None) -> type[PvcError]:
    """The class an API error body's ``error`` key names; by status when the body has none (an answer
    from something in front of the API); :class:`PvcError` when neither is known."""
    for kind in TAXONOMY:
        if kind.code == code:
            return kind
    for kind in TAXONOMY:
        if code is None and kind.http_status == http_status:
            return kind
    return PvcError
