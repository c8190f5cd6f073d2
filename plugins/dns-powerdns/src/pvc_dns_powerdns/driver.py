"""The ``powerdns`` dns driver: zones and rrsets on an authoritative PowerDNS server, through its HTTP API.

Every call is one HTTP request with ``X-API-Key``, bounded by ``dns_powerdns.timeout``: a server that does
not answer is one :class:`DnsError` line, never a hang. Zones are created as ``Native`` (served from the
backend, transferable by AXFR to the addresses in their ``ALLOW-AXFR-FROM`` metadata) with
``soa_edit_api: DEFAULT``, so that every change through the API moves the SOA serial forward. Changes are
PATCHes of whole rrsets (``REPLACE``/``DELETE``), applied by PowerDNS in one transaction.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

from pvc_core.config import ConfigSection
from pvc_core.errors import InvalidRequest, NotFound
from pvc_core.roles.dns import (
    DnsDriver,
    DnsError,
    DnsRecord,
    DnsZone,
    RrsetChanges,
    check_name,
    check_zone_name,
)

if TYPE_CHECKING:
    from pvc_core.host import Host

SECTION = "dns_powerdns"


class PowerDnsSettings(BaseModel):
    """The ``dns_powerdns`` section of the node config."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    api_url: str = Field("http://127.0.0.1:8081", description="PowerDNS's HTTP API (its webserver).")
    api_key: str = Field("", description="The API key (PowerDNS's api-key).")
    server_id: str = Field("localhost", description="The server id in the API's paths.")
    timeout: float = Field(5.0, gt=0, description="Seconds one API request may take.")
    # what the dns-powerdns plugin publishes, and where (the driver alone needs none of these)
    cluster_zone: str = Field(
        "", description="The cluster's own zone: every node's name, and the nameservers' (empty: none)."
    )
    nameservers: list[str] = Field(
        default_factory=list,
        description="The names in every zone's NS records (default: ns1.<cluster_zone>, at the DNS address).",
    )
    address: str = Field("", description="The cluster DNS address with its prefix (10.0.0.53/24): held by the primary.")
    device: str = Field("", description="The interface the primary holds the cluster DNS address on.")
    node_address: str = Field("", description="This node's address, its name's record in the cluster zone.")
    transfer_to: list[str] = Field(
        default_factory=list, description="Addresses or networks allowed to transfer (AXFR) every zone."
    )
    ttl: int = Field(300, ge=1, le=86400, description="The TTL of every record the cluster publishes.")
    check_interval: float = Field(
        30.0, gt=0, description="Seconds between the primary's full comparisons with PowerDNS (drift)."
    )
    netns: str = Field("", description="Hold the address in this network namespace (tests and labs).")


def fqdn(name: str, zone: str) -> str:
    """The absolute name (trailing dot) of ``name`` relative to ``zone``."""
    return f"{zone}." if name == "@" else f"{name}.{zone}."


def relative(absolute: str, zone: str) -> str:
    name = absolute.rstrip(".")
    return "@" if name == zone else name.removesuffix(f".{zone}")


class PowerDns(DnsDriver):
    contract: ClassVar[str | None] = ">=2.2,<3"
    config_section: ClassVar[ConfigSection | None] = ConfigSection(SECTION, PowerDnsSettings)

    def __init__(self, host: Host, name: str) -> None:
        super().__init__(host, name)
        self.settings: PowerDnsSettings = host.config.section_or_default(SECTION, PowerDnsSettings)

    # -- HTTP -----------------------------------------------------------------------------------------------

    def _request(self, method: str, path: str, body: Any = None) -> Any:
        url = f"{self.settings.api_url.rstrip('/')}/api/v1/servers/{self.settings.server_id}{path}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("X-API-Key", self.settings.api_key)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=self.settings.timeout) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as exc:
            reason = _error_of(exc)
            if exc.code == 404:
                raise NotFound(f"PowerDNS: {reason}") from None
            if exc.code in (400, 409, 422):
                raise InvalidRequest(f"PowerDNS refused it: {reason}") from None
            raise DnsError(f"PowerDNS answered {exc.code} to {method} {path}: {reason}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            why = getattr(exc, "reason", exc)
            raise DnsError(
                f"PowerDNS at {self.settings.api_url} does not answer ({why}; within {self.settings.timeout:g}s)"
            ) from None
        return json.loads(text) if text.strip() else None

    def _zone_path(self, zone: str) -> str:
        return f"/zones/{urllib.parse.quote(zone + '.', safe='')}"

    # -- the role -------------------------------------------------------------------------------------------

    def zones(self) -> list[str]:
        return sorted(str(z["name"]).rstrip(".") for z in self._request("GET", "/zones") or [])

    def ensure_zone(self, zone: DnsZone) -> None:
        check_zone_name(zone.name)
        nameservers = [n.rstrip(".") + "." for n in zone.nameservers] or [f"ns1.{zone.name}."]
        try:
            current = self._request("GET", self._zone_path(zone.name) + "?rrsets=false")
        except NotFound:
            current = None
        if current is None:
            self._request(
                "POST",
                "/zones",
                {
                    "name": f"{zone.name}.",
                    "kind": "Native",
                    "nameservers": nameservers,
                    "soa_edit_api": "DEFAULT",
                },
            )
        else:
            records = [r for r in self.records(zone.name) if r.type == "NS" and r.name == "@"]
            if sorted(r.content for r in records) != sorted(nameservers):
                self.apply(zone.name, {("@", "NS"): [DnsRecord("@", "NS", n, zone.ttl) for n in nameservers]})
        allowed = list(zone.transfer_to)
        path = self._zone_path(zone.name) + "/metadata/ALLOW-AXFR-FROM"
        found = (self._request("GET", path) or {}).get("metadata", [])
        if sorted(found) != sorted(allowed):
            if allowed:
                self._request("PUT", path, {"metadata": allowed})
            else:
                self._request("DELETE", path)

    def remove_zone(self, name: str) -> None:
        try:
            self._request("DELETE", self._zone_path(name))
        except NotFound:
            return

    def records(self, zone: str) -> list[DnsRecord]:
        found = self._request("GET", self._zone_path(zone)) or {}
        records = [
            DnsRecord(relative(str(rrset["name"]), zone), str(rrset["type"]), str(record["content"]), int(rrset["ttl"]))
            for rrset in found.get("rrsets", [])
            for record in rrset.get("records", [])
            if not record.get("disabled")
        ]
        return sorted(records, key=lambda r: (r.name, r.type, r.content))

    def apply(self, zone: str, changes: RrsetChanges) -> None:
        rrsets = []
        for (name, kind), records in changes.items():
            check_name(name)
            if records:
                rrsets.append(
                    {
                        "name": fqdn(name, zone),
                        "type": kind,
                        "ttl": records[0].ttl,
                        "changetype": "REPLACE",
                        "records": [{"content": r.content, "disabled": False} for r in records],
                    }
                )
            else:
                rrsets.append({"name": fqdn(name, zone), "type": kind, "changetype": "DELETE"})
        if rrsets:
            self._request("PATCH", self._zone_path(zone), {"rrsets": rrsets})

    def serial(self, zone: str) -> int:
        found = self._request("GET", self._zone_path(zone) + "?rrsets=false") or {}
        return int(found.get("serial", 0))


def _error_of(exc: urllib.error.HTTPError) -> str:
    try:
        body = json.loads(exc.read().decode() or "{}")
    except (ValueError, OSError):
        body = {}
    return str(body.get("error") or exc.reason).strip().splitlines()[0] if body or exc.reason else "no reason"
