"""A throwaway PowerDNS for tests and the lab: gsqlite3 backend, DNS and its HTTP API on loopback ports.

    with PowerDnsServer(directory, dns_port=25353, api_port=28081) as server:
        driver = server.driver()

The database is made from Debian's schema (``sqlite3``), ``security-poll-suffix=`` keeps it from asking
the internet at start, and AXFR is refused unless a zone's ``ALLOW-AXFR-FROM`` metadata allows it. Zones
are made through the API (PowerDNS refuses zones inserted by SQL until rediscovered). Stopped by PID.
"""

from __future__ import annotations

import secrets
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from pvc_core.testing.processes import terminate
from pvc_dns_powerdns.driver import PowerDns, PowerDnsSettings

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
    def __init__(self, directory: Path, dns_port: int, api_port: int, address: str = "127.0.0.1") -> None:
        self.directory = directory
        self.dns_port = dns_port
        self.api_port = api_port
        self.address = address
        self.api_key = secrets.token_hex(16)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def api_url(self) -> str:
        return f"http://{self.address}:{self.api_port}"

    def settings(self, timeout: float = 5.0) -> PowerDnsSettings:
        return PowerDnsSettings(api_url=self.api_url, api_key=self.api_key, timeout=timeout)

    def driver(self, timeout: float = 5.0) -> PowerDns:
        settings = self.settings(timeout)
        host = SimpleNamespace(config=SimpleNamespace(section_or_default=lambda _name, _model: settings), node="test")
        return PowerDns(host, "powerdns")  # type: ignore[arg-type]

    def start(self, timeout: float = 20.0) -> PowerDnsServer:
        self.directory.mkdir(parents=True, exist_ok=True)
        database = self.directory / "pdns.sqlite3"
        if not database.exists():
            subprocess.run(["sqlite3", str(database)], input=SCHEMA.read_bytes(), check=True, timeout=30)
        (self.directory / "pdns.conf").write_text(
            "\n".join(
                [
                    "launch=gsqlite3",
                    f"gsqlite3-database={database}",
                    f"local-address={self.address}",
                    f"local-port={self.dns_port}",
                    "api=yes",
                    f"api-key={self.api_key}",
                    "webserver=yes",
                    f"webserver-address={self.address}",
                    f"webserver-port={self.api_port}",
                    "webserver-allow-from=127.0.0.0/8,10.0.0.0/8",
                    "security-poll-suffix=",
                    "default-soa-content=ns1.@ hostmaster.@ 0 10800 3600 604800 300",
                    "allow-axfr-ips=",
                    "disable-axfr=no",
                    f"socket-dir={self.directory}",
                    "guardian=no",
                    "daemon=no",
                    "disable-syslog=yes",
                    "loglevel=4",
                    "",
                ]
            )
        )
        log = (self.directory / "pdns.log").open("ab")
        self.process = subprocess.Popen(
            ["pdns_server", f"--config-dir={self.directory}"], stdout=log, stderr=log, stdin=subprocess.DEVNULL
        )
        log.close()
        deadline = time.monotonic() + timeout
        while not self.answers():
            if self.process.poll() is not None:
                raise RuntimeError(f"pdns_server exited: {self.log_tail()}")
            if time.monotonic() > deadline:
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
        if self.process is not None and self.process.poll() is None:
            terminate(self.process.pid, timeout=5.0)
        self.process = None

    def __enter__(self) -> PowerDnsServer:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
