"""Paths of the core's part of the ZooKeeper tree (schema v4). Plugins declare their own subtrees."""

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
DOMAIN_NAMES = "/domain_names"
CONSOLE = "/console"
FAULTS = "/faults"
FENCE_REQUESTS = "/fence_requests"
FENCE_COUNTS = "/fence_counts"  # JSON: fence attempts by result since the cluster began (created on first use)
DOMAIN_SUMMARIES = "/domain_summaries"
SUMMARY_BUCKETS = 64
PLACEMENT = "/placement"
PLUGIN_CALLS = "/plugin_calls"  # clients' requests for a plugin's actions, carried out by the primary


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


def domain(uuid: str) -> str:
    """The VM's summary znode: one JSON document (state, node, metadata, operation in progress)."""
    return f"{DOMAINS}/{uuid}"


def summary_bucket(uuid: str) -> str:
    """The bucket holding a copy of the VM's record, so that listing every VM reads 64 znodes, not one per VM."""
    return f"{DOMAIN_SUMMARIES}/{int(uuid.replace('-', '')[:8], 16) % SUMMARY_BUCKETS:02d}"


def summary_buckets() -> list[str]:
    return [f"{DOMAIN_SUMMARIES}/{index:02d}" for index in range(SUMMARY_BUCKETS)]


def fault(node: str) -> str:
    """A fault the primary raised about a node (a failed or held-back fence): JSON message, epoch, time."""
    return f"{FAULTS}/{node}"


def fence_request(node: str) -> str:
    return f"{FENCE_REQUESTS}/{node}"


def console_requests(node: str) -> str:
    """Ephemeral requests for VM consoles on a node: ``/console/NODE/UUID.TOKEN`` (the node writes answers)."""
    return f"{CONSOLE}/{node}"


def domain_xml(uuid: str) -> str:
    return f"{DOMAINS}/{uuid}/xml"


def domain_prepared(uuid: str) -> str:
    """A migration's destination answers here once it prepared the VM: JSON node, operation start, XML or error."""
    return f"{DOMAINS}/{uuid}/prepared"


def domain_name(name: str) -> str:
    """Name -> UUID index entry."""
    return f"{DOMAIN_NAMES}/{name}"


def placement(node: str, uuid: str | None = None) -> str:
    """Node -> its VMs index: the children of ``/placement/NODE`` are the UUIDs of the VMs it owns."""
    return f"{PLACEMENT}/{node}" if uuid is None else f"{PLACEMENT}/{node}/{uuid}"


API_KEYS = "/api_keys"  # the API keys pvcapid accepts besides its config's: name -> role, when, by (schema v5)
# readable by the nodes' credential only on a secured cluster (pvc_core.zk.security); schema v6
SECRETS = "/secrets"
SECRET_API_KEYS = f"{SECRETS}/api_keys"  # name -> the key's hash
SECRET_PLUGINS = f"{SECRETS}/plugins"  # a plugin's secrets (BMC passwords): PluginData(secret=True)
AUDIT = "/audit"  # the API's audit log: chunks of entries, oldest removed past a bound (schema v5)


def api_key(name: str) -> str:
    return f"{API_KEYS}/{name}"


def secret_api_key(name: str) -> str:
    return f"{SECRET_API_KEYS}/{name}"


def plugin_secrets_root(owner: str) -> str:
    return f"{SECRET_PLUGINS}/{owner}"
