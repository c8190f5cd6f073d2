"""The lab's API: one ``pvcapid`` in the root namespace on loopback, with a key made for the lab.

Its files live under STATE/api/: ``pvcapid.yaml``, ``key`` (the key itself, mode 0600, what the lab's API
connection reads), ``pvcapid.log`` and ``pvcapid.pid``. The daemon is run as a separate program (found
next to this Python), so the lab needs only what ``pvc-api`` installs, not its modules.
"""

from __future__ import annotations

import json
import secrets
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from pvc_lab.errors import LabError
from pvc_lab.processes import owned_pid, run, spawn, terminate, wait_started

PVCAPID = Path(sys.executable).with_name("pvcapid")


class LabApiError(LabError):
    """The lab's pvcapid could not be set up or did not start."""


class LabApi:
    def __init__(
        self,
        directory: Path,
        zookeeper: str,
        port: int,
        credential_file: Path | None = None,
        zookeeper_ca: Path | None = None,
        listen: str = "127.0.0.1",
    ) -> None:
        self.directory, self.zookeeper, self.port, self.listen = directory, zookeeper, port, listen
        self.credential_file, self.zookeeper_ca = credential_file, zookeeper_ca

    @property
    def url(self) -> str:
        return f"http://{self.listen}:{self.port}"

    @property
    def key_file(self) -> Path:
        return self.directory / "key"

    @property
    def config(self) -> Path:
        return self.directory / "pvcapid.yaml"

    @staticmethod
    def installed() -> bool:
        return PVCAPID.exists()

    def pid(self) -> int | None:
        return owned_pid(self.directory / "pvcapid.pid", str(self.config))

    def start(self, timeout: float = 30.0) -> int:
        """Start pvcapid (unless it runs) and wait until it answers; return its PID."""
        pid = self.pid()
        if pid is not None:
            return pid
        self.directory.mkdir(parents=True, exist_ok=True)
        if not self.key_file.exists():
            self.key_file.touch(mode=0o600)
            self.key_file.write_text(secrets.token_urlsafe(24) + "\n")
        hashed = run(
            [str(PVCAPID), "hash-key"], 60, LabApiError, input=self.key_file.read_text(), text=True
        ).stdout.strip()
        settings = {
            "listen": self.listen,
            "port": self.port,
            "zookeeper": self.zookeeper,
            "keys": [{"name": "lab", "hash": hashed}],
        }
        if self.credential_file is not None:
            settings["zookeeper_credential_file"] = str(self.credential_file)
        if self.zookeeper_ca is not None:
            settings["zookeeper_tls"] = {"ca_file": str(self.zookeeper_ca)}
        self.config.write_text(json.dumps(settings, indent=2) + "\n")  # JSON is YAML
        process = spawn(
            [str(PVCAPID), "--config", str(self.config)], self.directory / "pvcapid.log", self.directory / "pvcapid.pid"
        )
        wait_started(
            process,
            self.answers,
            timeout,
            LabApiError(f"pvcapid exited at start; see {self.directory / 'pvcapid.log'}"),
            LabApiError(f"pvcapid did not answer on {self.url} within {timeout:g}s"),
        )
        return process.pid

    def answers(self) -> bool:
        """Whether ``GET /api/v1`` (no key needed) answers 200."""
        try:
            with urllib.request.urlopen(f"{self.url}/api/v1", timeout=2) as response:
                return bool(response.status == 200)
        except (OSError, urllib.error.URLError):
            return False

    def get(self, path: str) -> Any:
        """``GET`` an API path (``/api/v1/...``) with the lab's key; the decoded JSON."""
        request = urllib.request.Request(self.url + path, headers={"X-Api-Key": self.key_file.read_text().strip()})
        with urllib.request.urlopen(request, timeout=30) as response:
            return json.loads(response.read())

    def stop(self) -> None:
        pid = self.pid()
        if pid is not None:
            terminate(pid, timeout=15.0)
