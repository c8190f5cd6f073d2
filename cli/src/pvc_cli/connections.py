"""Stored connections: ``connections.json`` in the user's config dir (``$PVC_CONFIG_DIR`` overrides).

A connection is, for now, a direct ZooKeeper address (what ``pvc cluster init`` needs). Choosing one:
``--connection`` / ``$PVC_CONNECTION`` (a stored name or a host:port list), else the stored default, else
the only stored connection.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pvc_cli.errors import CliError

if TYPE_CHECKING:
    from pvc_core.zk.security import Credential, TlsFiles

HOSTS = re.compile(r"^[A-Za-z0-9_.\-\[\]:]+:\d+(,[A-Za-z0-9_.\-\[\]:]+:\d+)*(/[\w/\-]*)?$")
API = re.compile(r"^https?://[A-Za-z0-9_.\-\[\]:]+(:\d+)?(/[\w/\-]*)?$")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,62}$")


class NoConnection(CliError):
    """None was named, and no stored connection is the default (or the only one)."""


@dataclass(frozen=True)
class Connection:
    """Either a direct ZooKeeper address, or an API URL with the file holding its key."""

    name: str
    zookeeper: str = ""
    timeout: float = 10.0
    api: str = ""
    key_file: str = ""
    cafile: str = ""
    credential_file: str = ""  # a direct connection to a secured cluster: its ZooKeeper credential
    zookeeper_ca: str = ""  # TLS to ZooKeeper's secure client port: the CA that signed its certificates

    def to_dict(self) -> dict[str, Any]:
        fields = {
            "zookeeper": self.zookeeper,
            "api": self.api,
            "key_file": self.key_file,
            "cafile": self.cafile,
            "credential_file": self.credential_file,
            "zookeeper_ca": self.zookeeper_ca,
        }
        return {k: v for k, v in fields.items() if v} | {"timeout": self.timeout}

    @property
    def address(self) -> str:
        return self.api or self.zookeeper

    def api_key(self) -> str:
        if not self.key_file:
            key = os.environ.get("PVC_API_KEY", "")
            if not key:
                raise CliError(f"connection '{self.name}' needs an API key: a key file, or $PVC_API_KEY")
            return key
        try:
            return Path(self.key_file).read_text().strip()
        except OSError as exc:
            raise CliError(f"{self.key_file}: cannot read the API key: {exc.strerror}") from exc

    def zookeeper_credential(self) -> Credential | None:
        """The ZooKeeper credential of a direct connection: its credential file, else the file named by
        ``$PVC_ZOOKEEPER_CREDENTIAL_FILE``, else none (an open cluster)."""
        path = self.credential_file or os.environ.get("PVC_ZOOKEEPER_CREDENTIAL_FILE", "")
        return read_credential(path) if path else None

    def zookeeper_tls(self) -> TlsFiles | None:
        """TLS for a direct connection: its CA file, else ``$PVC_ZOOKEEPER_CA_FILE``, else none."""
        from pvc_core.errors import PvcError
        from pvc_core.zk.security import TlsFiles

        ca = self.zookeeper_ca or os.environ.get("PVC_ZOOKEEPER_CA_FILE", "")
        if not ca:
            return None
        try:
            return TlsFiles(ca).check()
        except PvcError as exc:
            raise CliError(str(exc)) from None

    @classmethod
    def from_dict(cls, name: str, entry: dict[str, Any]) -> Connection:
        return cls(
            name,
            zookeeper=entry.get("zookeeper", ""),
            timeout=float(entry.get("timeout", 10.0)),
            api=entry.get("api", ""),
            key_file=entry.get("key_file", ""),
            cafile=entry.get("cafile", ""),
            credential_file=entry.get("credential_file", ""),
            zookeeper_ca=entry.get("zookeeper_ca", ""),
        )


def read_credential(path: str) -> Credential:
    """A ZooKeeper credential file, or a one-line CliError saying why it cannot be used."""
    from pvc_core.errors import PvcError
    from pvc_core.zk.security import Credential

    try:
        return Credential.from_file(path)
    except PvcError as exc:
        raise CliError(str(exc)) from None


def config_dir() -> Path:
    return Path(os.environ.get("PVC_CONFIG_DIR") or click.get_app_dir("pvc"))


def store_path() -> Path:
    return config_dir() / "connections.json"


def load() -> dict[str, Any]:
    path = store_path()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {"default": None, "connections": {}}
    except (OSError, ValueError) as exc:
        raise CliError(f"{path}: unreadable connection store ({exc}); fix or remove it") from exc
    if not isinstance(data, dict):
        raise CliError(f"{path}: unreadable connection store (not a mapping); fix or remove it")
    data.setdefault("default", None)
    data.setdefault("connections", {})
    return dict(data)


def save(data: dict[str, Any]) -> None:
    path = store_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    temporary.chmod(0o600)
    temporary.replace(path)


def add(
    name: str,
    zookeeper: str | None = None,
    make_default: bool = False,
    timeout: float = 10.0,
    api: str | None = None,
    key_file: str | None = None,
    cafile: str | None = None,
    credential_file: str | None = None,
    zookeeper_ca: str | None = None,
) -> Connection:
    if not NAME.match(name):
        raise CliError(f"'{name}' is not a valid connection name (letters, digits, '.', '_', '-')")
    if bool(zookeeper) == bool(api):
        raise CliError("give either --zookeeper HOST:PORT or --api URL (with --key-file)")
    if zookeeper and not HOSTS.match(zookeeper):
        raise CliError(f"'{zookeeper}' is not a ZooKeeper address list (host:port[,host:port...])")
    if api and not API.match(api):
        raise CliError(f"'{api}' is not an API URL (http(s)://host[:port])")
    if api and key_file and not Path(key_file).is_file():
        raise CliError(f"{key_file}: no such key file")
    if credential_file and api:
        raise CliError("--credential-file is for a direct ZooKeeper connection (the API has its own key)")
    if credential_file:
        read_credential(credential_file)
    if zookeeper_ca and api:
        raise CliError("--zookeeper-ca is for a direct ZooKeeper connection (give the API's CA with --cafile)")
    connection = Connection(
        name,
        zookeeper=zookeeper or "",
        timeout=timeout,
        api=api or "",
        key_file=str(Path(key_file).resolve()) if key_file else "",
        cafile=cafile or "",
        credential_file=str(Path(credential_file).resolve()) if credential_file else "",
        zookeeper_ca=str(Path(zookeeper_ca).resolve()) if zookeeper_ca else "",
    )
    data = load()
    data["connections"][name] = connection.to_dict()
    if make_default or data["default"] is None:
        data["default"] = name
    save(data)
    return connection


def remove(name: str) -> None:
    data = load()
    if name not in data["connections"]:
        raise CliError(f"no connection named '{name}'")
    del data["connections"][name]
    if data["default"] == name:
        data["default"] = None
    save(data)


def set_default(name: str) -> None:
    data = load()
    if name not in data["connections"]:
        raise CliError(f"no connection named '{name}' (known: {', '.join(sorted(data['connections'])) or 'none'})")
    data["default"] = name
    save(data)


def stored() -> tuple[str | None, list[Connection]]:
    data = load()
    connections = [Connection.from_dict(name, entry) for name, entry in sorted(data["connections"].items())]
    return data["default"], connections


def resolve(choice: str | None) -> Connection:
    """The connection to use; ``$PVC_TIMEOUT`` (seconds) overrides its timeout."""
    connection = _choose(choice)
    override = os.environ.get("PVC_TIMEOUT")
    if override:
        try:
            return replace(connection, timeout=float(override))
        except ValueError as exc:
            raise CliError(f"PVC_TIMEOUT={override!r} is not a number of seconds") from exc
    return connection


def _choose(choice: str | None) -> Connection:
    default, connections = stored()
    by_name = {c.name: c for c in connections}
    if choice:
        if choice in by_name:
            return by_name[choice]
        if HOSTS.match(choice):
            return Connection("(direct)", zookeeper=choice)
        if API.match(choice):
            return Connection("(direct)", api=choice)
        known = ", ".join(by_name) or "none"
        raise CliError(f"unknown connection '{choice}' (known: {known}; or give host:port)")
    if default and default in by_name:
        return by_name[default]
    if len(connections) == 1:
        return connections[0]
    raise NoConnection("no connection chosen: add one with 'pvc connection add NAME --zookeeper HOST:PORT' or pass -c")
