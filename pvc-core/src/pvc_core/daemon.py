"""``pvcd``: the node daemon. Loads config and plugins, joins the cluster, runs until SIGTERM.

Start-up order: config (core keys) -> plugins (builtins, entry points, enable list, check_pending) ->
plugin config sections -> ZooKeeper session -> schema check -> drivers -> registration (``init``) ->
watches -> ``pvc_daemon_start`` -> ``run`` -> coordinator election. Any failure before ``run`` exits
non-zero with one line saying what and why.
"""

from __future__ import annotations

import argparse
import faulthandler
import functools
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from pvc_core import __version__
from pvc_core.config import LoadedConfig, config_path, read_config_file, validate_core, validate_sections
from pvc_core.dispatch import Dispatcher, WatchSet, ZkEvent
from pvc_core.election import CoordinatorElection
from pvc_core.errors import PvcError, SchemaError
from pvc_core.host import Host
from pvc_core.log import configure_logging, get_logger
from pvc_core.membership import Membership
from pvc_core.nodes import DaemonState, NodeRecord, decode_record
from pvc_core.plugin_calls import PluginCalls
from pvc_core.plugins.drivers import Drivers
from pvc_core.plugins.hooks import Hooks
from pvc_core.plugins.manager import PluginSet
from pvc_core.vm_events import VmEvents
from pvc_core.zk import paths, schema
from pvc_core.zk.session import SessionEvent, ZkSession


class Daemon:
    def __init__(self, path: Path, extra_plugins: Sequence[tuple[str, Any]] = ()) -> None:
        self.path = path
        self.extra_plugins = list(extra_plugins)
        self.stopping = threading.Event()
        self.stopped = threading.Event()
        self._records: dict[str, NodeRecord | None] = {}
        self._watched_nodes: set[str] = set()

    # -- start-up -------------------------------------------------------------------------------------------

    def load(self) -> None:
        """Read and validate the config and load plugins and their sections (no ZooKeeper yet)."""
        raw = read_config_file(self.path)
        core = validate_core(self.path, raw)
        self.plugins = PluginSet()
        self.plugins.load(core.plugins.enable, core.plugins.disable)
        for name, plugin in self.extra_plugins:
            self.plugins.register(plugin, name, "test")
        self.hooks = Hooks(self.plugins.pm)
        self.drivers = Drivers()
        driver_sections = self.drivers.resolve(core.drivers)
        sections = validate_sections(self.path, raw, [*self.hooks.config_sections(), *driver_sections])
        self.config = LoadedConfig(path=self.path, core=core, sections=sections, raw=raw)
        self.log = get_logger(node=core.node)

    def start(self) -> None:
        """Join the cluster; return once this node is in state ``run``."""
        if not hasattr(self, "config"):
            self.load()
        core = self.config.core
        self.zk = ZkSession(
            core.zookeeper.hosts,
            session_timeout=core.zookeeper.session_timeout,
            connect_timeout=core.zookeeper.connect_timeout,
            operation_timeout=core.zookeeper.operation_timeout,
            listener=self._on_session,
            credential=core.zookeeper.credential(),
            tls=core.zookeeper.tls.files() if core.zookeeper.tls is not None else None,
        )
        self.dispatcher = Dispatcher(core.node)
        self.host = Host(self.config, self.zk, self.dispatcher, self.drivers, self.hooks)
        self.zk.start()
        try:
            self._check_schema()
            self.drivers.start(self.host)
            self.membership = Membership(self.zk, core.node, core.is_coordinator, core.zookeeper.session_timeout)
            self.membership.register(
                self.plugins.info(),
                self.drivers.describe(),
                self.hooks.node_resources(self.host),
                self.hooks.node_attachments(self.host),
            )
            self.host.attach_republish(
                lambda: self.membership.publish_resources(
                    self.hooks.node_resources(self.host), self.hooks.node_attachments(self.host)
                )
            )
            self.election = CoordinatorElection(
                self.host, self.zk, self.hooks, self.membership, core.timers.handover_timeout
            )
            self.host.attach_election(self.election)
            self.dispatcher.start()
            self.watches = WatchSet(self.zk, self.dispatcher)
            self.host.attach_watches(self.watches)
            self._install_watches()
            self.dispatcher.run_sync("daemon start", lambda: self.hooks.daemon_start(self.host), timeout=60)
            self.membership.set_daemon_state(DaemonState.RUN, "pvcd running")
            self.dispatcher.post("election start", self.election.enable)
        except BaseException:
            self._close_session()
            raise
        self.log.info("started", version=__version__, coordinator=core.is_coordinator)

    def _check_schema(self) -> None:
        """Refuse an uninitialised cluster or a newer tree; bring an older tree up to this code's version.

        The first upgraded pvcd to start migrates (migrations are idempotent and their version bump is
        conditional, so nodes starting together cannot apply one twice); plugins' subtrees are created here
        too, so hooks find them from ``pvc_daemon_start`` on. The primary repeats this on every takeover.
        """
        stored = schema.check_compatible(self.zk, schema.CORE_SCHEMA)
        if stored is None:
            raise SchemaError(f"the cluster at {self.zk.hosts} is not initialised; run 'pvc cluster init' first")
        plugin_schemas = [*self.hooks.zk_schemas(), *self.drivers.schemas()]
        for plugin_schema in plugin_schemas:
            schema.check_compatible(self.zk, plugin_schema)
        for step in schema.migrate(self.zk, schema.CORE_SCHEMA):  # the core's tree must be current: fatal if not
            self.log.info("schema_migrated", owner=schema.CORE_OWNER, to_version=step.to_version)
        schema.prepare(self.zk, plugin_schemas, self.log)

    def _install_watches(self) -> None:
        election = self.election
        for path in (paths.PRIMARY, paths.REQUEST, paths.HANDOVER):
            self.watches.data(path, f"election {path}", lambda _d, _s: election.evaluate())
        self.watches.children(paths.LIVENESS, "liveness", self._on_liveness)
        self.watches.children(paths.NODES, "nodes", self._on_nodes)
        # the primary turns VM changes into the cluster-level VM hooks (its watches come and go with the role)
        self.election.role_listeners.append(VmEvents(self.host, self.hooks, self.watches).role_changed)
        # and carries out the plugin actions clients ask for (pvc_plugin_actions), in workers
        self.plugin_calls = PluginCalls(self.host, self.hooks.plugin_actions(self.host), self.watches)
        self.election.role_listeners.append(self.plugin_calls.role_changed)
        for plugin, watch in self.hooks.zk_watches(self.host):
            self.log.debug("plugin_watch", plugin=plugin, path=watch.path, kind=watch.kind)
            self.watches.plugin_watch(watch, self._deliver)

    def _deliver(self, event: ZkEvent) -> None:
        self.hooks.zk_event(self.host, event)

    # -- kernel event handlers (dispatcher thread) ----------------------------------------------------------

    def _on_liveness(self, names: list[str]) -> None:
        alive = frozenset(names)
        previous = self.host.alive_nodes
        self.host.alive_nodes = alive
        appeared, vanished = alive - previous, previous - alive
        if appeared or vanished:
            self.hooks.liveness_changed(self.host, alive, appeared, vanished)
        self.election.evaluate()

    def _on_nodes(self, names: list[str]) -> None:
        for name in names:
            if name not in self._watched_nodes:
                self._watched_nodes.add(name)
                self.watches.data(paths.node(name), f"node {name}", functools.partial(self._on_node_data, name))

    def _on_node_data(self, name: str, data: bytes | None, _stat: Any) -> None:
        new = None
        if data:
            new = decode_record(name, data)
        else:
            self._watched_nodes.discard(name)
        old = self._records.get(name)
        if old == new:
            return
        self._records[name] = new
        self.hooks.node_changed(self.host, name, old, new)

    def _on_session(self, event: SessionEvent) -> None:
        # kazoo thread: flip the flag that stops primary work at once, then hand over to the dispatcher
        if not hasattr(self, "election"):
            return  # still starting: nothing acts on the session yet
        if event in (SessionEvent.SUSPENDED, SessionEvent.LOST):
            self.election.suspend()
        self.dispatcher.post(f"session {event.value}", lambda: self._session_changed(event))

    def _session_changed(self, event: SessionEvent) -> None:
        self.log.warning("session", state=event.value)
        if event == SessionEvent.RESUMED:
            self.election.resumed()
        elif event == SessionEvent.LOST:
            self.election.lost()
        elif event == SessionEvent.RENEWED:
            if self.stopping.is_set():
                return
            self.membership.renew()
            self.membership.set_coordinator_state(self.election.state)
            self.election.evaluate()
        self.hooks.session_changed(self.host, event.value)

    # -- running and stopping -------------------------------------------------------------------------------

    def run_forever(self) -> None:
        interval = self.config.core.timers.keepalive
        while not self.stopping.wait(interval):
            if not self.zk.connected:
                continue
            try:
                self.membership.publish_resources(
                    self.hooks.node_resources(self.host), self.hooks.node_attachments(self.host)
                )
            except PvcError as exc:
                self.log.warning("keepalive_failed", error=str(exc))

    def shutdown(self) -> None:
        """Leave cleanly: give up the primary role, tell plugins, state ``stop``, close the session."""
        self.stopping.set()
        log = self.log
        steps: list[tuple[str, Callable[[], object]]] = [
            ("state shutdown", lambda: self.membership.set_daemon_state(DaemonState.SHUTDOWN, "pvcd stopping")),
            ("relinquish", lambda: self.dispatcher.run_sync("relinquish", self._leave_election, timeout=30)),
            ("daemon stop", lambda: self.dispatcher.run_sync("daemon stop", self._stop_hooks, timeout=60)),
            ("state stop", lambda: self.membership.set_daemon_state(DaemonState.STOP, "pvcd stopped")),
            ("liveness", self.membership.remove_liveness),
        ]
        try:
            for step, action in steps:
                # each step on its own: one failing (ZooKeeper gone) must not skip the others
                try:
                    action()
                except (PvcError, TimeoutError) as exc:
                    log.warning("unclean_shutdown", step=step, error=str(exc))
        finally:
            self._close_session()
            self.stopped.set()
        log.info("stopped")

    def _stop_hooks(self) -> None:
        self.hooks.daemon_stop(self.host)

    def _leave_election(self) -> None:
        self.election.disable()
        self.election.relinquish(to=None)

    def _close_session(self) -> None:
        if hasattr(self, "watches"):
            self.watches.stop()
        if hasattr(self, "plugin_calls"):
            self.plugin_calls.stop()
        self.dispatcher.stop()
        self.drivers.close()
        self.zk.stop()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pvcd", description="PVC node daemon")
    parser.add_argument("--config", "-c", help="node config file (default $PVCD_CONFIG or /etc/pvc/pvcd.yaml)")
    parser.add_argument("--version", action="version", version=f"pvcd {__version__}")
    args = parser.parse_args(argv)
    configure_logging()
    daemon = Daemon(config_path(args.config))
    try:
        daemon.load()
        logging_config = daemon.config.core.logging
        configure_logging(
            level=logging_config.level,
            json=None if logging_config.format == "auto" else logging_config.format == "json",
        )
        daemon.start()
    except PvcError as exc:
        print(f"pvcd: error: {exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # noqa: BLE001
        # not one of ours: still one line for the operator, the traceback in the log for us
        get_logger().exception("start_failed")
        print(f"pvcd: error: start failed unexpectedly: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1

    def on_signal(signum: int, _frame: Any) -> None:
        daemon.stopping.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    faulthandler.register(signal.SIGUSR1, all_threads=True)  # `kill -USR1 PID`: every thread's stack to stderr
    daemon.run_forever()
    started = time.monotonic()
    daemon.shutdown()
    get_logger(node=daemon.config.core.node).info("shutdown_took", seconds=round(time.monotonic() - started, 3))
    return 0


if __name__ == "__main__":
    sys.exit(main())
