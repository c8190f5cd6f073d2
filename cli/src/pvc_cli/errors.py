"""CLI-side errors (bad arguments the core never sees), in the same one-line family as the core's."""

from __future__ import annotations

from pvc_core.errors import PvcError


class CliError(PvcError):
    """A command's input or local state (the connection store) is wrong."""
