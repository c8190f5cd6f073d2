"""A throwaway PowerDNS for this driver's tests (pvc_core.testing.powerdns) that also hands out the driver
and settings pointing at it:

    with PowerDnsServer(directory, dns_port=25353, api_port=28081) as server:
        driver = server.driver()
"""

from __future__ import annotations

from types import SimpleNamespace

from pvc_core.testing import powerdns
from pvc_core.testing.powerdns import missing
from pvc_dns_powerdns.driver import PowerDns, PowerDnsSettings

__all__ = ["PowerDnsServer", "missing"]


class PowerDnsServer(powerdns.PowerDnsServer):
    def settings(self, timeout: float = 5.0) -> PowerDnsSettings:
        return PowerDnsSettings(api_url=self.api_url, api_key=self.api_key, timeout=timeout)

    def driver(self, timeout: float = 5.0) -> PowerDns:
        """The driver on a stand-in host (a fake: only its config is read) with this server's settings."""
        settings = self.settings(timeout)
        host = SimpleNamespace(config=SimpleNamespace(section_or_default=lambda _name, _model: settings), node="test")
        return PowerDns(host, "powerdns")  # type: ignore[arg-type]
