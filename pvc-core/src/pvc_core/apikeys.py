"""API keys: salted PBKDF2-SHA256 hashes compared in constant time, and the three roles a key may have.

* ``read``: GET (and HEAD) only;
* ``operator``: that, and every VM and node action (``/vm...``, ``/node...``);
* ``admin``: everything, API keys included.

Keys made with ``pvc api key add`` live in ZooKeeper (``/api_keys/<name>``: the hash, the role, when and by
whom; never the key) and are shared by every pvcapid; keys in pvcapid.yaml still work (role ``admin``
unless the file says otherwise).
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets

ITERATIONS = 200_000
SCHEME = "pbkdf2_sha256"
KEY_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


class Role(enum.StrEnum):
    READ = "read"
    OPERATOR = "operator"
    ADMIN = "admin"


READING = frozenset({"GET", "HEAD", "OPTIONS"})
OPERATOR_PATHS = ("/vm", "/node")  # relative to /api/v1: VM and node actions


def allowed(role: str, method: str, path: str) -> bool:
    """Whether a key of ``role`` may make ``method`` on ``path`` (relative to ``/api/v1``)."""
    if role == Role.ADMIN:
        return True
    if path == "/api-keys" or path.startswith("/api-keys/"):
        return False  # keys are the admins' alone, reading them included
    if method.upper() in READING:
        return role in (Role.READ, Role.OPERATOR)
    if role == Role.OPERATOR:
        return any(path == p or path.startswith(p + "/") for p in OPERATOR_PATHS)
    return False


def new_key() -> str:
    return secrets.token_urlsafe(32)


def hash_key(key: str, salt: str | None = None, iterations: int = ITERATIONS) -> str:
    salt = salt or secrets.token_hex(16)
    digest = hashlib.pbkdf2_hmac("sha256", key.encode(), salt.encode(), iterations).hex()
    return f"{SCHEME}${iterations}${salt}${digest}"


def verify(key: str, stored: str) -> bool:
    try:
        scheme, iterations, salt, digest = stored.split("$")
    except ValueError:
        return False
    if scheme != SCHEME:
        return False
    candidate = hashlib.pbkdf2_hmac("sha256", key.encode(), salt.encode(), int(iterations)).hex()
    return hmac.compare_digest(candidate, digest)
