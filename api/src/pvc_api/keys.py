"""API keys: stored as salted PBKDF2-SHA256 hashes, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets

ITERATIONS = 200_000
SCHEME = "pbkdf2_sha256"


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


class KeyRing:
    """Checks presented keys against the configured hashes; remembers good ones (hashed) to stay fast."""

    def __init__(self, hashes: dict[str, str]) -> None:
        self.hashes = hashes  # name -> stored hash
        self._accepted: dict[str, str] = {}  # sha256(key) -> name

    def who(self, key: str | None) -> str | None:
        if not key:
            return None
        fingerprint = hashlib.sha256(key.encode()).hexdigest()
        known = self._accepted.get(fingerprint)
        if known is not None:
            return known
        for name, stored in self.hashes.items():
            if verify(key, stored):
                self._accepted[fingerprint] = name
                return name
        return None
