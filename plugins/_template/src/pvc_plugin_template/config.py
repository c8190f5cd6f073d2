"""The plugin's section of the node config (``/etc/pvc/pvcd.yaml``).

An operator writes, next to the core's keys::

    plugins:
      enable: [template]
    template:
      greeting: hi
      hosts_file: /var/lib/pvc/template-hosts

Every field has a default, so the section may be left out. ``StrictModel`` makes unknown keys and wrong
types errors that pvcd reports at start in one line (file, key, reason). pvcapid.yaml takes the same
section (for the plugin's API routes) when it enables the plugin, validated the same way.
"""

from __future__ import annotations

import os

from pydantic import Field, field_validator

from pvc_core.config import StrictModel

# The top-level key of the section; also how hooks and drivers find it: host.config.section(SECTION).
SECTION = "template"


class TemplateConfig(StrictModel):
    greeting: str = Field(
        default="hello", description="What the daemon says when it starts, and pvcapid's /hello answers."
    )
    hosts_file: str = Field(
        default="/var/lib/pvc/template-hosts",
        description="Where the hostsfile dns driver keeps zone Z: the file '<hosts_file>.Z' (same directory).",
    )

    @field_validator("hosts_file")
    @classmethod
    def _absolute(cls, value: str) -> str:
        if not os.path.isabs(value) or value.endswith("/"):
            raise ValueError(f"'{value}' is not an absolute path to a file")
        return value
