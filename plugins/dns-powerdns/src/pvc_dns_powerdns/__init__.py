"""PVC's dns role on PowerDNS: zones and records through its HTTP API (the ``powerdns`` dns driver)."""
