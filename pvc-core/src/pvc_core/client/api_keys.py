"""``pvc api key add|list|remove`` over ZooKeeper: the API keys every pvcapid accepts, stored hashed."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from pvc_core.apikeys import KEY_NAME, Role, hash_key, new_key
from pvc_core.errors import AlreadyExists, Conflict, InvalidRequest, NotFound
from pvc_core.zk import paths
from pvc_core.zk.session import ZkSession, encode


@dataclass(frozen=True)
class ApiKeyInfo:
    name: str
    role: str
    created_at: float = 0.0
    created_by: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "role": self.role, "created_at": self.created_at, "created_by": self.created_by}


def check_name(name: str) -> str:
    if not KEY_NAME.match(name):
        raise InvalidRequest(f"'{name}' is not a key name (lower-case letters, digits, '.', '_', '-'; 1-63)", "name")
    return name


def check_role(role: str) -> str:
    if role not in {r.value for r in Role}:
        raise InvalidRequest(f"'{role}' is not a role (read, operator, admin)", "role")
    return role


class ApiKeys:
    def __init__(self, zk: ZkSession) -> None:
        self.zk = zk

    def list(self) -> list[ApiKeyInfo]:
        """Every key made with ``add``: name, role, when and by whom (never the key nor its hash; an
        operator's credential lists them, and cannot read the hashes)."""
        return [
            ApiKeyInfo(name, str(v.get("role", "")), float(v.get("created_at", 0)), str(v.get("created_by", "")))
            for name, v in sorted(self._roles().items())
        ]

    def _roles(self) -> dict[str, dict[str, Any]]:
        names = self.zk.children(paths.API_KEYS) if self.zk.exists(paths.API_KEYS) else []
        found = self.zk.get_many([paths.api_key(n) for n in names])
        return {n: self.zk_json(f[0]) for n, f in zip(names, found, strict=True) if f is not None and f[0]}

    def hashes(self) -> dict[str, dict[str, Any]]:
        """name -> {hash, role, ...}: what pvcapid checks presented keys against (the hashes are secrets:
        on a secured cluster only the nodes' credential reads them). Two round trips."""
        roles = self._roles()
        names = sorted(roles)
        found = self.zk.get_many([paths.secret_api_key(n) for n in names])
        keys = {}
        for name, hashed in zip(names, found, strict=True):
            secret = self.zk_json(hashed[0]) if hashed is not None and hashed[0] else {}
            if "hash" in secret:
                keys[name] = roles[name] | {"hash": secret["hash"]}
        return keys

    @staticmethod
    def zk_json(data: bytes) -> dict[str, Any]:
        from pvc_core.zk.session import decode

        value = decode(data)
        return value if isinstance(value, dict) else {}

    def add(self, name: str, role: str, by: str = "") -> str:
        """Make a key named ``name`` with ``role``; return the key itself (shown once, stored hashed)."""
        check_name(name)
        check_role(role)
        if self.zk.exists(paths.api_key(name)) is not None:
            raise AlreadyExists(f"an API key named '{name}' exists already (remove it first)")
        key = new_key()
        self.zk.ensure(paths.API_KEYS)
        self.zk.ensure(paths.SECRET_API_KEYS)
        transaction = self.zk.transaction()
        transaction.create(paths.api_key(name), encode({"role": role, "created_at": time.time(), "created_by": by}))
        transaction.create(
            paths.secret_api_key(name), encode({"hash": hash_key(key)}), acl=self.zk.acl_for(paths.secret_api_key(name))
        )
        try:
            self.zk.commit(transaction, f"add API key {name}")
        except Conflict:
            raise AlreadyExists(f"an API key named '{name}' exists already (remove it first)") from None
        return key

    def remove(self, name: str) -> None:
        check_name(name)
        if self.zk.exists(paths.api_key(name)) is None:
            raise NotFound(f"no API key named '{name}' (pvc api key list shows them)")
        self.zk.delete(paths.secret_api_key(name))
        self.zk.delete(paths.api_key(name))
