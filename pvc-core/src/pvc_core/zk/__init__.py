"""ZooKeeper: the session wrapper, the tree's paths, and the schema with its migrations."""
