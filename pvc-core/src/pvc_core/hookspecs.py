"""The PVC plugin contract: every hook a plugin may implement.

This module is the one file a third party writes against. Implement a hook with the public marker::

    from pvc_core import hookimpl

    @hookimpl
    def pvc_become_primary(host, epoch):
        ...

Rules that hold for every hook:

* Hooks are called with keyword arguments; an implementation may accept any subset of them. Specs only
  ever grow by new arguments, so an implementation written today keeps working.
* "dispatcher thread" means the one thread of ``pvcd`` that turns ZooKeeper changes into hook calls. Plugin
  code never runs on a kazoo thread. A hook on the dispatcher thread must return quickly: start long work
  in a thread of your own and report back through ZooKeeper.
* Notification hooks (those returning ``None``) are called once per implementation; one that raises is
  logged with the plugin's name, the hook and the event, and the others still run.
* A hook that returns data and raises during start-up stops ``pvcd`` with a one-line error naming the
  plugin.
* Implementations run one at a time, each isolated from the others; pluggy's ``tryfirst``/``trylast``
  order them. Hook wrappers (``wrapper=True``, ``hookwrapper=True``) are refused at load: a wrapper could
  not be isolated from the implementations it wraps. No hook is ``firstresult`` or ``historic``.
* The contract has a version, :data:`pvc_core.contract.CONTRACT_VERSION`; every plugin module declares
  the range it supports as ``PVC_CONTRACT = ">=2.0,<3"`` and is refused at load otherwise.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from pvc_core.api_context import ApiContext
    from pvc_core.config import ConfigSection
    from pvc_core.dispatch import Watch, ZkEvent
    from pvc_core.host import Host
    from pvc_core.metrics import Gauge
    from pvc_core.nodes import NodeRecord
    from pvc_core.roles.network import Network
    from pvc_core.vms.devices import DomainDevice
    from pvc_core.vms.model import VmRecord
    from pvc_core.zk.schema import Schema

_hookspec = pluggy.HookspecMarker("pvc")


# ---------------------------------------------------------------------------------------------------------
# Start-up: called once in pvcd's main thread while the daemon starts, in this order.
# ---------------------------------------------------------------------------------------------------------


@_hookspec
def pvc_config_sections() -> list[ConfigSection]:
    """Declare the plugin's sections of the node config (and of pvcapid.yaml, when pvcapid enables it).

    When: once, right after plugins are loaded, before the config's plugin sections are validated.
    Where: pvcd main thread; pvcapid main thread, before it serves.
    Returns: a list of :class:`pvc_core.config.ConfigSection` (a top-level key and a pydantic model whose
    fields have defaults). The validated section is available as ``host.config.section(name)`` in pvcd
    and ``api.config(name)`` in ``pvc_api_blueprints``.
    Raises: may not raise; an exception stops pvcd (or pvcapid) naming the plugin.
    """


@_hookspec
def pvc_zk_schema() -> Schema | None:
    """Declare the ZooKeeper subtree the plugin owns, its version and its migrations.

    When: once at start (the node refuses to run against a newer stored version), and again whenever
    this node becomes primary (the primary creates missing paths and applies pending migrations).
    Where: pvcd main thread at start; dispatcher thread on takeover.
    Returns: a :class:`pvc_core.zk.schema.Schema` whose paths live under ``/plugins/<owner>`` (refused
    otherwise), or None.
    Raises: may not raise; an exception stops pvcd naming the plugin.
    """


@_hookspec
def pvc_zk_watches(host: Host) -> list[Watch]:
    """Declare ZooKeeper paths whose changes this plugin wants as ``pvc_zk_event`` calls.

    When: once at start, after the node registered and before its state becomes ``run``.
    Where: pvcd main thread.
    Returns: a list of :class:`pvc_core.dispatch.Watch` (path, ``data`` or ``children``, a name the plugin
    recognises in ``pvc_zk_event``). The kernel keeps each watch armed across reconnects and new sessions.
    Raises: may not raise; an exception stops pvcd naming the plugin.
    """


@_hookspec
def pvc_daemon_start(host: Host) -> None:
    """The node is registered in ZooKeeper and about to enter daemon state ``run``.

    When: once per pvcd start, before coordinator election starts on this node.
    Where: dispatcher thread.
    Returns: nothing. May raise :class:`pvc_core.errors.StartRefused` to refuse the start (a required
    resource is missing): pvcd then stops with one line naming the plugin and the reason. Any other
    exception is logged with the plugin's name and the daemon still starts.
    """


@_hookspec
def pvc_daemon_stop(host: Host) -> None:
    """pvcd is shutting down (SIGTERM or SIGINT); the ZooKeeper session is still open.

    When: once, after this node gave up the primary role (if it held it), before its state becomes ``stop``.
    Where: dispatcher thread. Stop your threads here; the process exits shortly after.
    Returns: nothing. May raise: logged; the shutdown goes on.
    """


# ---------------------------------------------------------------------------------------------------------
# Coordinator election
# ---------------------------------------------------------------------------------------------------------


@_hookspec
def pvc_become_primary(host: Host, epoch: int) -> None:
    """This node is now the primary coordinator.

    When: each time this node takes the primary role (at start, by failover, or by a requested hand-over),
    after the takeover committed in ZooKeeper and before its coordinator state reads ``primary``.
    ``epoch`` is the new primary epoch; it increments on every change of primary and is the fencing token:
    conditional writes made with ``host.primary_transaction()`` fail once a newer primary exists.
    Where: dispatcher thread, only on the node that became primary.
    Returns: nothing. May raise: logged; the node stays primary.
    """


@_hookspec
def pvc_become_secondary(host: Host, epoch: int) -> None:
    """This node stopped acting as primary coordinator.

    When: on a requested hand-over or shutdown (before the role is released), and when the role is lost:
    the session expired, or another node holds the role. ``epoch`` is the epoch it held. Stop every
    primary-only activity at once: another node may be primary already. (While the connection is merely
    suspended, ``host.is_primary`` is False and ``pvc_session_changed('suspended')`` is called instead; the
    role resumes under the same epoch if the session survives.)
    Where: dispatcher thread, only on the node that held the role.
    Returns: nothing. May raise: logged; the role is released anyway.
    """


# ---------------------------------------------------------------------------------------------------------
# Membership
# ---------------------------------------------------------------------------------------------------------


@_hookspec
def pvc_node_changed(host: Host, name: str, old: NodeRecord | None, new: NodeRecord | None) -> None:
    """A node's record in ZooKeeper changed (state, coordinator state, resources), appeared or was removed.

    When: on every change seen, on every node; ``old`` is None for a node seen for the first time by this
    daemon, ``new`` is None when the node's record was removed. Changes may be coalesced.
    Where: dispatcher thread.
    Returns: nothing. May raise: logged; dispatch goes on.
    """


@_hookspec
def pvc_liveness_changed(host: Host, alive: frozenset[str], appeared: frozenset[str], vanished: frozenset[str]) -> None:
    """The set of nodes holding a live ZooKeeper session changed.

    When: whenever a node's ephemeral liveness znode appears or goes (pvcd start/stop, session expiry).
    A vanished node is not yet dead: the primary declares it ``dead`` only after ``timers.dead_grace``.
    Where: dispatcher thread, on every node.
    Returns: nothing. May raise: logged; dispatch goes on.
    """


@_hookspec
def pvc_node_resources(host: Host) -> dict[str, Any]:
    """Contribute to the resources this node publishes (``cpus``, ``memory_total_mib``, ``load`` ...).

    When: at start and every ``timers.keepalive`` seconds; the node rewrites its record only when the
    merged result changed.
    Where: pvcd main thread.
    Returns: a JSON-serialisable mapping; results are merged in registration order, so a plugin's values
    override the builtins' for the same keys.
    May raise: logged; that plugin's contribution is skipped this round.
    """


@_hookspec
def pvc_node_attachments(host: Host) -> dict[str, list[str]]:
    """Say what this node can attach to a VM right now: the placement hook.

    When: at start and every ``timers.keepalive`` seconds, with ``pvc_node_resources``; the node rewrites
    its record only when the merged result changed.
    Where: pvcd main thread.
    Returns: kind -> keys (see :mod:`pvc_core.vms.attachments`): ``{"volume": ["pool/*", "pool/vol"],
    "network": ["100", "blue"]}``. The node publishes the union, each key with the plugin that offers it.
    A VM is defined only when some node offers every volume and network it names, and placed (started,
    migrated, moved, flushed, recovered after a fence) only on a node that offers them all; a node that
    does not is shown with the reason ("network 100 not available there").
    May raise: logged; that plugin's offer is left out this round (its VMs' nodes look unable to host them).
    """


# ---------------------------------------------------------------------------------------------------------
# VMs on the node that runs them
# ---------------------------------------------------------------------------------------------------------


@_hookspec
def pvc_vm_prepare(host: Host, vm: VmRecord, purpose: str) -> list[DomainDevice]:
    """Make what the VM needs ready on this node, and return the domain devices that attach it.

    When: on the node that will run ``vm``, just before the compute driver starts it (``purpose`` is
    ``start``), before an incoming live migration (``migrate-in``; the source waits for it), and on the
    node that runs it when interfaces were added to it (``hotplug``, since 2.2: return the devices as for
    a start; the core adds live the ones that are new). Called again for every start, so it must be
    idempotent.
    Where: a VM-manager worker thread (never the dispatcher): it may block for a while (create a bridge,
    map a volume), bounded by ``vms.prepare_timeout``.
    Returns: a list of :class:`pvc_core.vms.devices.DomainDevice` (an element for ``<devices>`` such as a
    ``<disk>`` or an ``<interface>``, the attachment it serves as ``kind``/``key``, and an optional
    secret the hypervisor must hold), or an empty list. Every volume and network the VM names must be
    served by exactly one plugin, or the start fails naming the attachment.
    May raise: a :class:`pvc_core.errors.PvcError` whose message says why; the start (or migration) fails
    with that reason, naming the plugin, and the VM goes to ``fail`` (a migration falls back as its
    method allows). What other plugins prepared is released.
    """


@_hookspec
def pvc_vm_release(host: Host, vm: VmRecord, purpose: str) -> None:
    """Release on this node what ``pvc_vm_prepare`` made ready for the VM.

    When: on the node that ran ``vm``, after it stopped (``purpose`` ``stop``: shut down, stopped, refused
    by the hypervisor after it was prepared, crashed), after it migrated away (``migrate-out``), when a
    prepare failed (``abandoned``) and on a migration's destination when the migration did not happen
    (``abandoned``). May be called for a VM this plugin never prepared, and
    more than once: it must be idempotent.
    Where: a VM-manager worker thread.
    Returns: nothing. May raise: logged with the plugin's name; the others still run.
    """


# ---------------------------------------------------------------------------------------------------------
# VMs in the cluster: on the primary coordinator
# ---------------------------------------------------------------------------------------------------------


@_hookspec
def pvc_vm_defined(host: Host, vm: VmRecord) -> None:
    """A VM was defined in the cluster.

    When: on the primary coordinator, after the definition is stored. Events seen while this node was
    not primary are not replayed: a plugin that keeps derived state (DNS, addresses) re-reads every VM
    (``host.cluster.vms.list()``) in ``pvc_become_primary``. Changes may be coalesced.
    Where: dispatcher thread, only on the primary.
    Returns: nothing. May raise: logged; dispatch goes on.
    """


@_hookspec
def pvc_vm_modified(host: Host, old: VmRecord, new: VmRecord) -> None:
    """A VM's definition changed: its XML, volumes, networks, memory, vCPUs, tags or node limits.

    When: on the primary coordinator, after the change is stored. Not called for runtime changes (state,
    node, migrations) nor for a rename alone (see ``pvc_vm_renamed``).
    Where: dispatcher thread, only on the primary.
    Returns: nothing. May raise: logged; dispatch goes on.
    """


@_hookspec
def pvc_vm_renamed(host: Host, vm: VmRecord, old_name: str) -> None:
    """A VM was renamed from ``old_name`` to ``vm.name``.

    When: on the primary coordinator, after the rename is stored.
    Where: dispatcher thread, only on the primary.
    Returns: nothing. May raise: logged; dispatch goes on.
    """


@_hookspec
def pvc_vm_removed(host: Host, vm: VmRecord) -> None:
    """A VM was removed from the cluster (``vm`` is its last record).

    When: on the primary coordinator, after the removal is stored.
    Where: dispatcher thread, only on the primary.
    Returns: nothing. May raise: logged; dispatch goes on.
    """


@_hookspec
def pvc_network_changed(host: Host, vni: int, old: Network | None, new: Network | None) -> None:
    """Client network ``vni`` was added (``old`` is None), changed (its subnets, reservations, domain,
    ACLs...) or removed (``new`` is None) (since 2.3).

    When: on the primary coordinator, once the plugin that stores networks (``builtin.networks``) has seen
    the stored change (``host.network_changed``); the first look after a takeover is not announced: a
    plugin that derives something from networks (DNS) re-reads them in ``pvc_become_primary``
    (``host.cluster.networks()``).
    Where: dispatcher thread, only on the primary.
    Returns: nothing. May raise: logged; dispatch goes on.
    """


@_hookspec
def pvc_network_leases_changed(host: Host, vni: int) -> None:
    """The DHCP leases of network ``vni`` changed: its driver's ``leases(vni)`` now says otherwise (since 2.3).

    When: on the primary coordinator, after a network driver recorded the change and announced it with
    ``host.leases_changed(vni)``; changes close together may be coalesced into one call. Not replayed
    across a change of primary: a plugin that follows leases (DNS) re-reads them in ``pvc_become_primary``.
    Where: dispatcher thread, only on the primary.
    Returns: nothing. May raise: logged; dispatch goes on.
    """


# ---------------------------------------------------------------------------------------------------------
# High availability
# ---------------------------------------------------------------------------------------------------------


@_hookspec
def pvc_node_fenced(host: Host, node: str, epoch: int) -> None:
    """A node's power-off was confirmed by the fencing driver; none of its VMs has started elsewhere yet.

    When: on the primary coordinator (``epoch`` is its epoch), once per confirmed fence, before the node's
    VMs are recovered on other nodes. A storage plugin cuts the node's storage clients off here (Ceph
    blocklist, RBD locks broken) so that a node wrongly thought dead can never write again.
    Where: a fence-monitor worker thread; may block up to a few seconds.
    Returns: nothing. May raise: the fence then counts as failed, with the plugin's reason: it is retried
    like a failed power-off (this hook is called again), and when the retries are spent a fault naming
    the plugin is raised and none of the node's VMs is started elsewhere (the ``ha.policy`` for failed
    fences applies).
    """


# ---------------------------------------------------------------------------------------------------------
# Events and session
# ---------------------------------------------------------------------------------------------------------


@_hookspec
def pvc_zk_event(host: Host, event: ZkEvent) -> None:
    """A watched path (declared through ``pvc_zk_watches``) changed.

    When: once when the watch is armed, after each change of the path (data or children, as declared), and
    after a reconnect when it changed meanwhile. Changes may be coalesced: treat events as "look again",
    read the current state and act idempotently. Every plugin's implementation sees every event: filter on
    ``event.name``. A children watch creates its path when missing.
    Where: dispatcher thread.
    Returns: nothing. May raise: logged with the event; dispatch goes on.
    """


@_hookspec
def pvc_session_changed(host: Host, state: str) -> None:
    """This node's ZooKeeper session changed state: ``suspended``, ``resumed``, ``lost`` or ``renewed``.

    When: ``suspended`` as soon as the connection drops (pause writes that need the session); ``resumed``
    when it is back within the same session; ``lost`` when the session expired (ephemerals are gone);
    ``renewed`` once the node has re-registered on a new session and its watches are armed again.
    Where: dispatcher thread.
    Returns: nothing. May raise: logged; dispatch goes on.
    """


# ---------------------------------------------------------------------------------------------------------
# Actions clients ask of a plugin (since contract 2.1)
# ---------------------------------------------------------------------------------------------------------


@_hookspec
def pvc_plugin_actions(host: Host) -> dict[str, Callable[[dict[str, Any]], Any]]:
    """Declare the actions this plugin carries out when a client asks: ``cluster.plugin_call(plugin, action,
    args)`` from a ``pvc`` command or an API route (create a volume, add a network...).

    When: this hook once at start (the table is kept); an action each time a client asks for it, while
    this node is the primary coordinator.
    Where: this hook in pvcd's main thread; each action in a worker thread of its own (a few run at once),
    never the dispatcher: an action may block, within the caller's timeout (30 s unless the caller says
    otherwise; the caller stops waiting then, the action is not interrupted).
    Returns: action name -> a function taking the call's arguments (a JSON object as a ``dict``) and
    returning a JSON-serialisable result (at most 512 KiB encoded). The caller names the plugin by the
    name it is loaded under (its ``pvc.plugins`` entry point name).
    May raise (the action): a :class:`pvc_core.errors.PvcError` reaches the caller as the same class with
    the same one-line message (and ``field`` for InvalidRequest): raise NotFound, AlreadyExists,
    InvalidRequest, Busy for what the operator must fix. Any other exception reaches the caller as a
    PvcError naming the plugin and the action, and is logged with its traceback.
    May raise (this hook): stops pvcd at start with one line naming the plugin.
    """


# ---------------------------------------------------------------------------------------------------------
# The HTTP API
# ---------------------------------------------------------------------------------------------------------


@_hookspec
def pvc_api_blueprints(api: ApiContext) -> list[Any]:
    """Contribute routes to the HTTP API, as Flask blueprints.

    When: once when pvcapid starts, after the plugins its config enables are loaded.
    Where: pvcapid (the API process), main thread; the routes then run in its request threads.
    ``api`` is a :class:`pvc_core.api_context.ApiContext`: ``api.cluster`` (the cluster client pvcapid
    uses, the same calls as ``pvc`` over ZooKeeper), ``api.config(name)`` (the plugin's own section of
    pvcapid.yaml, validated against the models ``pvc_config_sections`` declares) and ``api.log``. Keep
    it in the closure of your routes.
    Returns: a list of ``flask.Blueprint``; each is mounted at ``/api/v1/plugins/<blueprint name>`` and, like
    every endpoint, answers 401 without a valid API key; its routes appear in the served OpenAPI
    document (summary from the view's docstring). Import Flask inside the hook (or a module only
    pvcapid imports) so that pvcd never needs it.
    Raises: may not raise; an exception stops pvcapid naming the plugin.
    """


@_hookspec
def pvc_api_metrics(api: ApiContext) -> list[Gauge]:
    """Contribute gauges to pvcapid's ``/metrics`` (Prometheus text format). Since contract 2.1.

    When: at every scrape of ``/metrics``.
    Where: pvcapid, in the request's thread; keep it to a read or two of ZooKeeper through ``api.cluster``
    (write what you measure there from pvcd, on change, and read it here).
    Returns: a list of :class:`pvc_core.metrics.Gauge` (name, help, samples of labels -> value). Name them
    ``pvc_<your subsystem>_...``; the names of the core's metrics are taken.
    May raise: logged with the plugin's name; that plugin's metrics are left out of this scrape.
    """
