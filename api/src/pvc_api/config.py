"""The API daemon's config: ``/etc/pvc/pvcapid.yaml`` (``--config`` or ``$PVCAPID_CONFIG`` override)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from pvc_core.config import read_config_file
from pvc_core.errors import ConfigError

DEFAULT_PATH = Path("/etc/pvc/pvcapid.yaml")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ApiKey(Strict):
    name: str = Field(description="Who holds the key (shown in logs, never the key).")
    hash: str = Field(description="pbkdf2_sha256$ITERATIONS$SALT$DIGEST, from 'pvcapid hash-key'.")


class Tls(Strict):
    cert: str
    key: str


class Plugins(Strict):
    enable: list[str] = Field(default_factory=list, description="Installed plugins whose API routes to load.")


class ApiConfig(Strict):
    listen: str = "0.0.0.0"
    port: int = Field(7370, ge=1, le=65535)
    zookeeper: str = Field(description="host:port[,host:port...][/chroot] of the cluster's ZooKeeper.")
    keys: list[ApiKey] = Field(default_factory=list, description="Accepted API keys, hashed.")
    tls: Tls | None = None
    threads: int = Field(8, ge=1, le=256)
    plugins: Plugins = Plugins()
    operation_timeout: float = Field(10.0, gt=0)


def load(path: Path) -> ApiConfig:
    raw = read_config_file(path)
    try:
        return ApiConfig.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(p) for p in first["loc"])
        raise ConfigError(f"{path}: {key}: {first['msg']}") from exc
