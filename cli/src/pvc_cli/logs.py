"""Logging for ``pvc``: a command's outcome is its output or its one-line error, never a library's log lines.

kazoo retries a connection that does not answer with a WARNING per attempt, and pvc_core's own lines go to
the standard library's ``pvc`` logger until an entry point configures structlog; both reach stderr only with
``--debug`` (or ``PVC_DEBUG=1``).
"""

from __future__ import annotations

import logging
import sys


def configure_cli_logging(debug: bool) -> None:
    """Send every library's log lines to stderr (``debug``), or nowhere."""
    root = logging.getLogger()
    if debug:
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.setLevel(logging.DEBUG)
    else:
        # a handler that drops everything: without one, logging's last resort prints WARNING lines to stderr
        handler = logging.NullHandler()
    root.handlers[:] = [handler]
