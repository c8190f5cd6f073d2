"""Client networks: stored in ZooKeeper, built on every node by the network drivers (builtin.networks)."""
