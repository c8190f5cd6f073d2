"""Throwaway TLS material for tests and the lab: a CA and a server certificate for some IP addresses, made
with the ``openssl`` command (Debian's ``openssl`` package), EC P-256, valid for 30 days."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from pvc_core.errors import PvcError


@dataclass(frozen=True)
class TlsMaterial:
    ca_file: Path  # the CA certificate clients trust
    server_pem: Path  # the server's key and certificate in one PEM file (what ZooKeeper's PEM keystore reads)


def _openssl(*args: str) -> None:
    try:
        subprocess.run(["openssl", *args], check=True, capture_output=True, timeout=60)
    except FileNotFoundError as exc:
        raise PvcError("openssl is not installed (Debian package openssl): no TLS certificates") from exc
    except subprocess.CalledProcessError as exc:
        raise PvcError(f"openssl {args[0]} failed: {exc.stderr.decode(errors='replace').strip()}") from exc


def make_certificates(directory: Path, addresses: list[str]) -> TlsMaterial:
    """A CA and a server certificate for ``addresses`` in ``directory`` (mode 0700); kept when present."""
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    material = TlsMaterial(directory / "ca.pem", directory / "server.pem")
    if material.ca_file.exists() and material.server_pem.exists():
        return material
    ca_key, key, request, cert = (directory / n for n in ("ca.key", "server.key", "server.csr", "server.crt"))
    extensions = directory / "server.ext"
    curve = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    _openssl("req", "-x509", *curve, "-keyout", str(ca_key), "-out", str(material.ca_file), "-days", "30",
             "-subj", "/CN=PVC test CA")  # fmt: skip
    _openssl("req", *curve, "-keyout", str(key), "-out", str(request), "-subj", "/CN=zookeeper")
    extensions.write_text("subjectAltName=" + ",".join(f"IP:{a}" for a in addresses) + "\n")
    _openssl("x509", "-req", "-in", str(request), "-CA", str(material.ca_file), "-CAkey", str(ca_key),
             "-CAcreateserial", "-out", str(cert), "-days", "30", "-extfile", str(extensions))  # fmt: skip
    material.server_pem.write_text(key.read_text() + cert.read_text())
    material.server_pem.chmod(0o600)
    for leftover in (request, extensions):
        leftover.unlink()
    return material
