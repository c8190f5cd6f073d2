"""Logging: structlog, configured once per entry point (daemon, API, CLI).

JSON lines when the output is not a terminal, a readable console format when it is. Context (node,
plugin, hook, event) is bound per call site with ``bind()`` on a logger obtained from :func:`get_logger`,
never at module level.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def configure_logging(level: str = "info", json: bool | None = None, stream: TextIO | None = None) -> None:
    """Configure structlog for this process.

    ``json=None`` picks JSON unless ``stream`` is a TTY. kazoo's own stdlib logging is routed to the same
    stream at WARNING so that its connection chatter does not drown PVC's lines.
    """
    out = stream if stream is not None else sys.stderr
    if json is None:
        json = not out.isatty()
    renderer: Any = structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(colors=False)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS.get(level, logging.INFO)),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    kazoo_log = logging.getLogger("kazoo")
    kazoo_log.handlers[:] = [handler]
    kazoo_log.setLevel(logging.WARNING)
    kazoo_log.propagate = False


def _until_configured() -> None:
    """Until an entry point calls :func:`configure_logging`, PVC's lines go to the standard library's ``pvc``
    logger (structlog would print them on stdout), so that a program using pvc_core as a library decides
    whether and where they appear: ``pvc`` shows them only with ``--debug``."""
    if structlog.is_configured():
        return
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.format_exc_info,
            structlog.processors.KeyValueRenderer(key_order=["event"]),
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )


_until_configured()


def get_logger(**context: Any) -> Any:
    """A structlog logger with ``context`` bound (node, plugin, hook, ...)."""
    return structlog.get_logger("pvc").bind(**context)
