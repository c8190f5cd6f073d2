"""The node config: one YAML file per node (``/etc/pvc/pvcd.yaml`` by default).

The core's keys are validated by :class:`NodeConfig`. Every other top-level key must be the section of a
loaded plugin, which declares its schema (a pydantic model, with defaults) through the
``pvc_config_sections`` hook. Unknown keys and wrong types are refused at start with the file, the key and
the reason, in one line.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from pvc_core.errors import ConfigError
from pvc_core.zk.security import Credential, TlsFiles

DEFAULT_CONFIG_PATH = Path("/etc/pvc/pvcd.yaml")
CONFIG_ENV = "PVCD_CONFIG"

NAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")


class StrictModel(BaseModel):
    """Base for config models: unknown keys are errors, types are not coerced."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


class ZooKeeperTlsConfig(StrictModel):
    ca_file: str = Field(description="The CA certificate (PEM) that signed the ZooKeeper servers' certificates.")
    cert_file: str = Field("", description="This node's client certificate (PEM), if the ensemble asks for one.")
    key_file: str = Field("", description="Its private key (PEM).")

    def files(self) -> TlsFiles:
        return TlsFiles(self.ca_file, self.cert_file, self.key_file).check()


class ZooKeeperConfig(StrictModel):
    hosts: str = Field(description="host:port[,host:port...][/chroot] of the coordinators' ZooKeeper ensemble.")
    session_timeout: float = Field(3.0, ge=1.0, le=60.0, description="Requested session timeout, seconds.")
    connect_timeout: float = Field(15.0, gt=0, description="How long pvcd waits for ZooKeeper at start, seconds.")
    operation_timeout: float = Field(5.0, gt=0, description="Upper bound of one ZooKeeper request, seconds.")
    credential_file: str = Field(
        "",
        description="A file (mode 0600) holding the nodes' ZooKeeper credential, 'pvc-node:PASSWORD', as "
        "'pvc cluster init --secure DIR' wrote it to DIR/node.credential. Empty: no credential (an open cluster).",
    )

    tls: ZooKeeperTlsConfig | None = Field(
        None, description="TLS to the ensemble's secure client port (then 'hosts' names those ports)."
    )

    def credential(self) -> Credential | None:
        """The credential the file holds; ConfigError (one line) when it cannot be used."""
        return Credential.from_file(self.credential_file) if self.credential_file else None

    @field_validator("hosts")
    @classmethod
    def _hosts_have_ports(cls, value: str) -> str:
        servers, _, _chroot = value.partition("/")
        for host in servers.split(","):
            name, _, port = host.strip().rpartition(":")
            if not name or not port.isdigit():
                raise ValueError(f"'{host}' is not host:port")
        return value


class TimersConfig(StrictModel):
    keepalive: float = Field(5.0, gt=0, description="How often a node refreshes its published resources, seconds.")
    dead_grace: float = Field(
        6.0, gt=0, description="How long a node's session may be gone before the primary marks it dead, seconds."
    )
    handover_timeout: float = Field(
        6.0, gt=0, description="How long the other coordinators leave the named target of a hand-over to take it."
    )


class PluginsConfig(StrictModel):
    enable: list[str] = Field(default_factory=list, description="Installed plugins (pvc.plugins entry points) to load.")
    disable: list[str] = Field(default_factory=list, description="Plugins to block, builtins included.")


class DriversConfig(StrictModel):
    compute: str | None = None
    storage: str | None = None
    fencing: str | None = None
    network: list[str] = Field(default_factory=list, description="One driver per network type (evpn, vlan).")
    dns: str | None = None


class LoggingConfig(StrictModel):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["auto", "json", "console"] = "auto"


class NodeConfig(StrictModel):
    node: str = Field(description="This node's name: lower-case letters, digits and '-'.")
    coordinators: list[str] = Field(min_length=1, description="Names of the nodes that may become primary.")
    zookeeper: ZooKeeperConfig
    timers: TimersConfig = TimersConfig()
    plugins: PluginsConfig = PluginsConfig()
    drivers: DriversConfig = DriversConfig()
    logging: LoggingConfig = LoggingConfig()

    @field_validator("node")
    @classmethod
    def _valid_name(cls, value: str) -> str:
        if not NAME_PATTERN.match(value):
            raise ValueError(f"'{value}' is not a valid node name (lower-case letters, digits, '-')")
        return value

    @field_validator("coordinators")
    @classmethod
    def _valid_coordinators(cls, value: list[str]) -> list[str]:
        for name in value:
            if not NAME_PATTERN.match(name):
                raise ValueError(f"'{name}' is not a valid node name")
        if len(set(value)) != len(value):
            raise ValueError("a coordinator is listed twice")
        return value

    @property
    def is_coordinator(self) -> bool:
        return self.node in self.coordinators


CORE_KEYS = frozenset(NodeConfig.model_fields)


@dataclass(frozen=True)
class ConfigSection:
    """A plugin's section of the node config: its top-level key and its pydantic model (with defaults)."""

    name: str
    model: type[BaseModel]


ModelT = TypeVar("ModelT", bound=BaseModel)


@dataclass(frozen=True)
class LoadedConfig:
    """The validated config: the core's part and each plugin section, by name."""

    path: Path
    core: NodeConfig
    sections: dict[str, BaseModel]
    raw: dict[str, Any]

    def section(self, name: str) -> Any:
        return self.sections[name]

    def section_or_default(self, name: str, model: type[ModelT]) -> ModelT:
        """The validated section ``name``, or ``model``'s defaults when no loaded plugin declared it (a
        section shared by plugins, read by one while the one that declares it is disabled)."""
        found = self.sections.get(name)
        return found if isinstance(found, model) else model()


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    """The config file to read: an explicit path, else ``$PVCD_CONFIG``, else ``/etc/pvc/pvcd.yaml``."""
    if explicit:
        return Path(explicit)
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG_PATH)


def read_config_file(path: Path) -> dict[str, Any]:
    """Parse the YAML file into a mapping, with one-line errors for the usual mistakes."""
    try:
        text = path.read_text()
    except FileNotFoundError as exc:
        raise ConfigError(f"{path}: no such config file (pass --config or set ${CONFIG_ENV})") from exc
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"{path}:{where}: invalid YAML: {problem}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the config must be a mapping of keys, not {type(data).__name__}")
    return data


def _one_line(path: Path, prefix: str, exc: ValidationError) -> str:
    parts = []
    for error in exc.errors():
        key = ".".join(str(part) for part in (prefix, *error["loc"]) if part != "")
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            message = "unknown key"
        elif error["type"] == "missing":
            message = "required key is missing"
        elif "input" in error and error["type"] not in ("missing",):
            message = f"{message} (got {error['input']!r})"
        parts.append(f"{key}: {message}")
    return f"{path}: " + "; ".join(parts)


def validate_core(path: Path, data: dict[str, Any]) -> NodeConfig:
    """Validate the core's keys (the plugin sections are checked later, once plugins are loaded)."""
    core = {key: value for key, value in data.items() if key in CORE_KEYS}
    try:
        return NodeConfig.model_validate(core)
    except ValidationError as exc:
        raise ConfigError(_one_line(path, "", exc)) from exc


def validate_sections(
    path: Path, data: dict[str, Any], sections: list[ConfigSection], core_keys: frozenset[str] = CORE_KEYS
) -> dict[str, BaseModel]:
    """Validate every non-core key against the section a loaded plugin declared; refuse unknown keys.

    ``core_keys``: the program's own top-level keys (pvcd's by default; pvcapid passes its own)."""
    declared: dict[str, ConfigSection] = {}
    for section in sections:
        if section.name in core_keys or section.name in declared:
            raise ConfigError(f"{path}: config section '{section.name}' is declared twice (core or another plugin)")
        declared[section.name] = section
    unknown = sorted(key for key in data if key not in core_keys and key not in declared)
    if unknown:
        raise ConfigError(
            f"{path}: {unknown[0]}: unknown key (neither a core setting nor the section of a loaded plugin)"
        )
    validated: dict[str, BaseModel] = {}
    for name, section in declared.items():
        value = data.get(name)
        if value is None:
            value = {}
        if not isinstance(value, dict):
            raise ConfigError(f"{path}: {name}: must be a mapping, not {type(value).__name__}")
        try:
            validated[name] = section.model.model_validate(value)
        except ValidationError as exc:
            raise ConfigError(_one_line(path, name, exc)) from exc
    return validated
