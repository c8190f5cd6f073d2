"""ZooKeeper authentication and ACLs: who may read and write the cluster's tree.

A secured cluster has three digest identities, each a ``user:password`` credential kept in a file (mode
0600):

* ``pvc-node``: the nodes' pvcd and pvcapid; everything, secrets included;
* ``pvc-operator``: an operator's ``pvc`` on a direct connection; everything except reading secrets (it may
  still write them: ``pvc api key add``);
* ``pvc-read``: read-only, secrets excluded (monitoring, a read-only operator).

Every znode carries the ACL of its place: under :data:`SECRETS` the secret ACL, elsewhere the normal one;
no ACL grants anything to ``world:anyone``, so a client without a credential can read and write nothing.
``/security`` (readable by the three) holds the identities' digests, so that every PVC process creates
znodes with the cluster's ACL without knowing the others' passwords. ``pvc cluster init --secure DIR``
makes the credentials and applies the ACLs to every znode (migrating an open tree).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets as token
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kazoo.security import ACL, Id, Permissions

from pvc_core.errors import ConfigError, InvalidRequest

SECURITY = "/security"  # {"version": 1, "digests": {"node": "pvc-node:HASH", ...}}
SECRETS = "/secrets"  # BMC passwords, API key hashes, plugins' secrets: readable by the nodes' credential only
IDENTITIES = {"node": "pvc-node", "operator": "pvc-operator", "read": "pvc-read"}
WRITE_NOT_READ = Permissions.CREATE | Permissions.DELETE | Permissions.WRITE


@dataclass(frozen=True)
class Credential:
    """One ``user:password`` digest credential."""

    user: str
    password: str

    @classmethod
    def parse(cls, text: str, source: str) -> Credential:
        user, sep, password = text.strip().partition(":")
        if not sep or not user or not password or "\n" in password:
            raise ConfigError(f"{source} does not hold one 'user:password' line")
        return cls(user, password)

    @classmethod
    def from_file(cls, path: Path | str) -> Credential:
        """Read a credential file; refused (one line) when missing, unreadable, malformed, or readable by
        other users (it grants access to the whole cluster)."""
        path = Path(path)
        try:
            mode = path.stat().st_mode
            text = path.read_text()
        except OSError as exc:
            raise ConfigError(f"cannot read the ZooKeeper credential file {path}: {exc.strerror}") from exc
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise ConfigError(f"the ZooKeeper credential file {path} is readable by others: chmod 600 {path}")
        return cls.parse(text, f"the ZooKeeper credential file {path}")

    @property
    def auth(self) -> str:
        """What kazoo's ``add_auth("digest", ...)`` takes."""
        return f"{self.user}:{self.password}"

    @property
    def digest(self) -> str:
        """The id ZooKeeper's digest ACLs name: ``user:base64(sha1(user:password))``."""
        hashed = base64.b64encode(hashlib.sha1(self.auth.encode()).digest()).decode()
        return f"{self.user}:{hashed}"


@dataclass(frozen=True)
class TlsFiles:
    """TLS to ZooKeeper's secure client port: the CA that signed the servers' certificates, and this
    client's own certificate and key when the ensemble asks for one (``ssl.clientAuth=need``)."""

    ca_file: str
    cert_file: str = ""
    key_file: str = ""

    def check(self) -> TlsFiles:
        """Itself, once every file it names is readable; else ConfigError naming the file."""
        for what, path in (("CA", self.ca_file), ("certificate", self.cert_file), ("key", self.key_file)):
            if path and not os.access(path, os.R_OK):
                raise ConfigError(f"the ZooKeeper TLS {what} file {path} cannot be read")
        if bool(self.cert_file) != bool(self.key_file):
            raise ConfigError("ZooKeeper TLS: give both a certificate and its key, or neither")
        return self

    def kazoo(self) -> dict[str, Any]:
        """KazooClient's arguments for it (the server's certificate is always verified)."""
        return {
            "use_ssl": True,
            "verify_certs": True,
            "ca": self.ca_file,
            "certfile": self.cert_file or None,
            "keyfile": self.key_file or None,
        }


@dataclass(frozen=True)
class ClusterAcls:
    """The ACLs of a secured cluster, from its identities' digests."""

    digests: dict[str, str]  # "node"/"operator"/"read" -> digest id

    def _grant(self, **perms: int) -> list[ACL]:
        """An ACL giving each named identity (``node``, ``operator``, ``read``) its permissions; no one else."""
        return [ACL(allowed, Id("digest", self.digests[identity])) for identity, allowed in perms.items()]

    @property
    def normal(self) -> list[ACL]:
        return self._grant(node=Permissions.ALL, operator=Permissions.ALL, read=Permissions.READ)

    @property
    def secret(self) -> list[ACL]:
        return self._grant(node=Permissions.ALL, operator=WRITE_NOT_READ)

    @property
    def security(self) -> list[ACL]:
        """``/security`` itself: read by all three; changed only by the nodes' credential (or ``cluster init``)."""
        return self._grant(node=Permissions.ALL, operator=Permissions.READ, read=Permissions.READ)

    def for_path(self, path: str) -> list[ACL]:
        if is_secret(path):
            return self.secret
        if path == SECURITY:
            return self.security
        return self.normal

    def to_json(self) -> bytes:
        return json.dumps({"version": 1, "digests": self.digests}, sort_keys=True).encode()

    @classmethod
    def from_json(cls, data: bytes) -> ClusterAcls:
        try:
            value: Any = json.loads(data)
            digests = {name: str(value["digests"][name]) for name in IDENTITIES}
        except (ValueError, KeyError, TypeError) as exc:
            raise InvalidRequest(f"{SECURITY} does not hold the cluster's identities: {exc}") from exc
        return cls(digests)


def is_secret(path: str) -> bool:
    return path == SECRETS or path.startswith(SECRETS + "/")


def acl_matches(found: list[ACL], expected: list[ACL]) -> bool:
    """Whether a znode's ACL is the expected one (order does not matter)."""
    return sorted((a.perms, a.id.scheme, a.id.id) for a in found) == sorted(
        (a.perms, a.id.scheme, a.id.id) for a in expected
    )


# -- the credential files ---------------------------------------------------------------------------------


def credential_path(directory: Path, identity: str) -> Path:
    return directory / f"{identity}.credential"


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` with mode 0600 from the start (never readable by others, even briefly)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    path.chmod(0o600)


def make_credentials(directory: Path) -> dict[str, Credential]:
    """The three credentials in ``directory`` (``node.credential``, ...), made with random passwords where
    missing (mode 0600; the directory 0700 when made here); existing ones are kept."""
    if not directory.exists():
        directory.mkdir(parents=True, mode=0o700)
    made: dict[str, Credential] = {}
    for identity, user in IDENTITIES.items():
        path = credential_path(directory, identity)
        if not path.exists():
            write_private(path, f"{user}:{token.token_urlsafe(32)}\n")
        made[identity] = Credential.from_file(path)
        if made[identity].user != user:
            raise ConfigError(f"{path} is for user '{made[identity].user}', not '{user}'")
    return made
