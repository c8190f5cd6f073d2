"""VMs, hypervisor-agnostic: the record in ZooKeeper, domain XML checks, states and placement.

Any compute driver reuses all of this; only starting, stopping and migrating a domain is the driver's.
"""
