"""Paths of the core's part of the ZooKeeper tree (schema v2). Plugins declare their own subtrees."""

from __future__ import annotations

SCHEMA = "/schema"
SCHEMA_VERSION = "/schema/version"
PLUGIN_SCHEMAS = "/schema/plugins"
CONFIG = "/config"
MAINTENANCE = "/config/maintenance"
NODES = "/nodes"
LIVENESS = "/liveness"
DOMAINS = "/domains"
COORDINATORS = "/coordinators"
PRIMARY = "/coordinators/primary"
EPOCH = "/coordinators/epoch"
HANDOVER = "/coordinators/handover"
REQUEST = "/coordinators/request"
PLUGINS = "/plugins"


def node(name: str) -> str:
    """The node's summary znode: one JSON document (daemon state, coordinator state, resources, plugins)."""
    return f"{NODES}/{name}"


def liveness(name: str) -> str:
    """The node's ephemeral liveness znode, owned by its pvcd's session."""
    return f"{LIVENESS}/{name}"


def plugin_schema_version(owner: str) -> str:
    return f"{PLUGIN_SCHEMAS}/{owner}"


def plugin_root(owner: str) -> str:
    """The subtree a plugin owns."""
    return f"{PLUGINS}/{owner}"
