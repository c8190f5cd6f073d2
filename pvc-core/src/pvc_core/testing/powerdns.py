"""A throwaway authoritative PowerDNS (gsqlite3 backend) for tests and the lab, as a coordinator runs it.

    with PowerDnsServer(directory, dns_port=25353, api_port=28081) as server:
        server.api_url, server.api_key

The database is made from Debian's schema (``sqlite3``); ``security-poll-suffix=`` keeps it from asking
the internet at start; AXFR is refused unless a zone's ``ALLOW-AXFR-FROM`` metadata allows it. Zones must
be made through the API (PowerDNS refuses zones inserted by SQL until rediscovered). ``netns`` runs it in
a network namespace (a lab node's): DNS on ``address`` (comma-separated: the node's own and the floating
cluster DNS address, bound before the node holds it with ``non-local-bind``; not ``0.0.0.0``, which would
take port 53 from the networks' dnsmasq), the API on ``api_address``. It keeps a PID file, so that a later
process (``pvc lab down``) stops it by PID.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

from pvc_core.testing.processes import owned_pid, spawn, terminate

SCHEMA = Path("/usr/share/pdns-backend-sqlite3/schema/schema.sqlite3.sql")


def missing() -> str:
    """Why a PowerDNS cannot run here ("" when it can)."""
    if shutil.which("pdns_server") is None and not Path("/usr/sbin/pdns_server").exists():
        return "pdns-server is not installed"
    if not SCHEMA.exists():
        return "pdns-backend-sqlite3 is not installed"
    if shutil.which("sqlite3") is None:
        return "sqlite3 is not installed"
    return ""


class PowerDnsServer:
    def __init__(
        self,
        directory: Path,
        dns_port: int,
        api_port: int,
        address: str = "127.0.0.1",
        api_key: str = "",
        netns: str = "",
        api_address: str = "",
    ) -> None:
        self.directory = directory
        self.dns_port = dns_port
        self.api_port = api_port
        self.address = address
        self.api_address = api_address or address.split(",", maxsplit=1)[0]
        self.api_key = api_key or secrets.token_hex(16)
        self.netns = netns

    @property
    def api_url(self) -> str:
        return f"http://{self.api_address}:{self.api_port}"

    @property
    def config_file(self) -> Path:
        return self.directory / "pdns.conf"

    @property
    def pid(self) -> int | None:
        return owned_pid(self.directory / "pdns.pid", str(self.directory))

    def write_config(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        database = self.directory / "pdns.sqlite3"
        if not database.exists():
            subprocess.run(["sqlite3", str(database)], input=SCHEMA.read_bytes(), check=True, timeout=30)
        settings = {
            "launch": "gsqlite3",
            "gsqlite3-database": str(database),
            "local-address": self.address,
            "local-port": str(self.dns_port),
            "non-local-bind": "yes",
            "api": "yes",
            "api-key": self.api_key,
            "webserver": "yes",
            "webserver-address": self.api_address,
            "webserver-port": str(self.api_port),
            "webserver-allow-from": "127.0.0.0/8,10.0.0.0/8",
            "security-poll-suffix": "",
            "default-soa-content": "ns1.@ hostmaster.@ 0 10800 3600 604800 300",
            "allow-axfr-ips": "",
            "disable-axfr": "no",
            "socket-dir": str(self.directory),
            "guardian": "no",
            "daemon": "no",
            "disable-syslog": "yes",
            "loglevel": "4",
        }
        self.config_file.write_text("".join(f"{k}={v}\n" for k, v in settings.items()))

    def start(self, timeout: float = 20.0) -> PowerDnsServer:
        process = None
        if self.pid is None:
            self.write_config()
            argv = ["pdns_server", f"--config-dir={self.directory}"]
            if self.netns:
                argv = ["ip", "netns", "exec", self.netns, *argv]
            process = spawn(argv, self.directory / "pdns.log", self.directory / "pdns.pid")
        deadline = time.monotonic() + timeout
        while not self.answers():
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"pdns_server exited: {self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"pdns_server did not answer within {timeout:g}s: {self.log_tail()}")
            time.sleep(0.1)
        return self

    def answers(self) -> bool:
        request = urllib.request.Request(f"{self.api_url}/api/v1/servers/localhost")
        request.add_header("X-API-Key", self.api_key)
        try:
            with urllib.request.urlopen(request, timeout=1):
                return True
        except OSError:
            return False

    def log_tail(self) -> str:
        try:
            return (self.directory / "pdns.log").read_text(errors="replace")[-800:]
        except OSError:
            return ""

    def stop(self) -> None:
        pid = self.pid
        if pid is not None:
            terminate(pid, timeout=5.0)

    def __enter__(self) -> PowerDnsServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
