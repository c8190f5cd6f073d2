"""``pvcapid``: the API under gunicorn (one worker process, threads; one ZooKeeper session for it)."""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gunicorn.app.base import BaseApplication
from pydantic import BaseModel

from pvc_api.app import PREFIX, create_app
from pvc_api.config import DEFAULT_PATH, ApiConfig, load, validate_plugin_sections
from pvc_api.endpoints import api
from pvc_api.keys import KeyRing, hash_key
from pvc_core.api_context import ApiContext
from pvc_core.client import Cluster
from pvc_core.errors import PvcError
from pvc_core.log import configure_logging, get_logger
from pvc_core.plugins.hooks import Hooks
from pvc_core.plugins.manager import PluginSet
from pvc_core.zk.security import Credential
from pvc_core.zk.session import ZkSession


@dataclass(frozen=True)
class Loaded:
    """What pvcapid reads before it serves: its config, the plugins it enables, their validated sections."""

    config: ApiConfig
    plugins: PluginSet
    sections: dict[str, BaseModel]


def load_all(path: Path) -> Loaded:
    """Read pvcapid.yaml, load the plugins it enables and validate their sections (no ZooKeeper yet), so
    that a bad file stops pvcapid with one line before gunicorn starts."""
    config, raw = load(path)
    if config.zookeeper_credential_file:
        Credential.from_file(config.zookeeper_credential_file)  # unusable: one line now, not at the first request
    if config.zookeeper_tls is not None:
        config.zookeeper_tls.files()
    plugins = PluginSet()
    plugins.load(config.plugins.enable)
    declared = Hooks(plugins.pm).config_sections(plugins=config.plugins.enable)
    return Loaded(config, plugins, validate_plugin_sections(path, raw, declared))


def build_app(loaded: Loaded) -> Any:
    """The WSGI app with its ZooKeeper session (call in the process that serves: sessions do not fork)."""
    config = loaded.config
    credential = Credential.from_file(config.zookeeper_credential_file) if config.zookeeper_credential_file else None
    zk = ZkSession(
        config.zookeeper,
        session_timeout=10.0,
        operation_timeout=config.operation_timeout,
        credential=credential,
        tls=config.zookeeper_tls.files() if config.zookeeper_tls is not None else None,
    )
    zk.start()
    cluster = Cluster(zk)
    keys = KeyRing({key.name: (key.hash, key.role) for key in config.keys}, stored=cluster.api_keys.hashes)
    context = ApiContext(cluster=cluster, sections=loaded.sections, log=get_logger(component="api"))
    contributed = Hooks(loaded.plugins.pm).api_blueprints(context)
    blueprints = [bp for _, found in contributed for bp in found]
    routes: dict[str, list[str]] = {}
    for plugin, found in contributed:
        routes.setdefault(plugin, []).extend(f"{PREFIX}/plugins/{bp.name}" for bp in found)
    loaded_plugins = {
        info.name: {"version": info.version, "hooks": list(info.hooks), "routes": routes.get(info.name, [])}
        for info in loaded.plugins.info()
        if info.name in config.plugins.enable
    }
    hooks = Hooks(loaded.plugins.pm)
    return create_app(
        cluster, keys, api, blueprints, loaded_plugins, lambda: hooks.api_metrics(context), audit_log=cluster.audit
    )


class Server(BaseApplication):  # type: ignore[misc]
    def __init__(self, loaded: Loaded) -> None:
        self.loaded = loaded
        super().__init__()

    def load_config(self) -> None:
        config = self.loaded.config
        self.cfg.set("bind", f"{config.listen}:{config.port}")
        self.cfg.set("workers", 1)
        self.cfg.set("worker_class", "gthread")
        self.cfg.set("threads", config.threads)
        self.cfg.set("timeout", 3600)  # long operations with wait=true
        self.cfg.set("graceful_timeout", 10)  # on SIGTERM, requests still waiting get 10 s, then go
        self.cfg.set("accesslog", None)
        # gunicorn >= 25.1 opens a control socket at one path per user ($XDG_RUNTIME_DIR/gunicorn.ctl or
        # ~/.gunicorn/gunicorn.ctl), so a second pvcapid of the same user would take over the first's;
        # pvcapid is run by systemd or the lab, never driven through gunicornc
        if "control_socket_disable" in self.cfg.settings:
            self.cfg.set("control_socket_disable", True)
        if config.tls is not None:
            self.cfg.set("certfile", config.tls.cert)
            self.cfg.set("keyfile", config.tls.key)

    def load(self) -> Any:
        return build_app(self.loaded)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pvcapid", description="PVC HTTP API daemon")
    parser.add_argument("--config", "-c", default=os.environ.get("PVCAPID_CONFIG", str(DEFAULT_PATH)))
    parser.add_argument("command", nargs="?", choices=["serve", "hash-key"], default="serve")
    args = parser.parse_args(argv)
    if args.command == "hash-key":
        key = sys.stdin.readline().strip() if not sys.stdin.isatty() else getpass.getpass("API key: ")
        if not key:
            print("pvcapid: error: an empty key", file=sys.stderr)
            return 1
        print(hash_key(key))
        return 0
    configure_logging()
    try:
        loaded = load_all(Path(args.config))
    except PvcError as exc:
        print(f"pvcapid: error: {exc}", file=sys.stderr)
        return 1
    Server(loaded).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
