"""PVC's HTTP API."""
