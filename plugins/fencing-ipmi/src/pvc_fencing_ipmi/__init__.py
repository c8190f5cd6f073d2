"""PVC's IPMI fencing driver."""
