"""The API daemon's config: ``/etc/pvc/pvcapid.yaml`` (``--config`` or ``$PVCAPID_CONFIG`` override).

Like pvcd's node config: pvcapid's own keys are validated by :class:`ApiConfig`; every other top-level key
must be the section of a plugin the file enables, validated against the model the plugin declares through
``pvc_config_sections`` once it is loaded (:func:`validate_plugin_sections`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pvc_core.config import ConfigSection, ZooKeeperTlsConfig, read_config_file, validate_sections
from pvc_core.errors import ConfigError

DEFAULT_PATH = Path("/etc/pvc/pvcapid.yaml")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ApiKey(Strict):
    name: str = Field(description="Who holds the key (shown in logs, never the key).")
    hash: str = Field(description="pbkdf2_sha256$ITERATIONS$SALT$DIGEST, from 'pvcapid hash-key'.")
    role: Literal["read", "operator", "admin"] = Field("admin", description="What the key may do (pvc_core.apikeys).")


class Tls(Strict):
    cert: str
    key: str


class Plugins(Strict):
    enable: list[str] = Field(default_factory=list, description="Installed plugins whose API routes to load.")


class ApiConfig(Strict):
    listen: str = "0.0.0.0"
    port: int = Field(7370, ge=1, le=65535)
    zookeeper: str = Field(description="host:port[,host:port...][/chroot] of the cluster's ZooKeeper.")
    zookeeper_credential_file: str = Field(
        "", description="On a secured cluster: the nodes' ZooKeeper credential file (mode 0600), node.credential."
    )
    zookeeper_tls: ZooKeeperTlsConfig | None = Field(
        None, description="TLS to the ensemble's secure client port (ca_file, cert_file, key_file), as pvcd's."
    )
    keys: list[ApiKey] = Field(default_factory=list, description="Accepted API keys, hashed.")
    tls: Tls | None = None
    threads: int = Field(8, ge=1, le=256)
    plugins: Plugins = Plugins()
    operation_timeout: float = Field(10.0, gt=0)


CORE_KEYS = frozenset(ApiConfig.model_fields)


def load(path: Path) -> tuple[ApiConfig, dict[str, Any]]:
    """pvcapid's own keys, validated, and the whole file (whose other keys are plugin sections)."""
    raw = read_config_file(path)
    try:
        config = ApiConfig.model_validate({key: value for key, value in raw.items() if key in CORE_KEYS})
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path}: {key}: {first['msg']}") from exc
    return config, raw


def validate_plugin_sections(path: Path, raw: dict[str, Any], sections: list[ConfigSection]) -> dict[str, BaseModel]:
    """Every non-core key against the sections the loaded plugins declared; an unknown key is refused."""
    return validate_sections(path, raw, sections, core_keys=CORE_KEYS)
