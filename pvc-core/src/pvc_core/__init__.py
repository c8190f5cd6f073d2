"""PVC core: the microkernel (membership, coordinator election, event dispatch) and the plugin contract.

Plugin authors need two names from here: :data:`hookimpl` to mark hook implementations and
:data:`CONTRACT_VERSION`, the version of the contract this pvc-core implements (see
:mod:`pvc_core.contract`); and the role base classes in :mod:`pvc_core.roles` to write drivers. The
contract itself is :mod:`pvc_core.hookspecs`.
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import pluggy

from pvc_core.contract import CONTRACT_VERSION

hookimpl = pluggy.HookimplMarker("pvc")

try:
    __version__ = version("pvc-core")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0"

__all__ = ["CONTRACT_VERSION", "__version__", "hookimpl"]
