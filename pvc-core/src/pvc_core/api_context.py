"""What ``pvc_api_blueprints`` receives: the cluster client, the plugin's part of pvcapid's config, a logger.

pvcapid builds one and passes it to every implementation; a plugin keeps it in the closure of its routes
instead of reaching into Flask's ``current_app`` or pvcapid's internals. Nothing here imports Flask.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pvc_core.errors import NotFound

if TYPE_CHECKING:
    from pvc_core.client.cluster import Cluster


@dataclass(frozen=True)
class ApiContext:
    cluster: Cluster  # the bindings over pvcapid's one ZooKeeper session: the same calls as ``pvc``
    sections: Mapping[str, Any] = field(default_factory=dict)  # validated plugin sections of pvcapid.yaml
    log: Any = None  # a structlog logger bound to pvcapid

    def config(self, name: str) -> Any:
        """The validated model of the section ``name`` of pvcapid.yaml (declared by ``pvc_config_sections``;
        its defaults when the file has no such section)."""
        try:
            return self.sections[name]
        except KeyError:
            raise NotFound(f"pvcapid has no config section '{name}' (no loaded plugin declares it)") from None
