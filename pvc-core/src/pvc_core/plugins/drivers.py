"""Loading the driver chosen for each role with stevedore, by the name in the node config.

Only the named driver's entry point is imported. A missing driver or one that fails to import stops the
daemon with one line naming the role and the driver.
"""

from __future__ import annotations

import contextlib
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from pvc_core import contract
from pvc_core.errors import PluginError
from pvc_core.roles import LISTED_ROLES, ROLE_CLASSES, ROLES, Driver, NetworkDriver

if TYPE_CHECKING:
    from pvc_core.config import ConfigSection, DriversConfig
    from pvc_core.host import Host
    from pvc_core.zk.schema import Schema


def installed_drivers(role: str) -> list[str]:
    return sorted(ep.name for ep in entry_points(group=ROLES[role]))


def load_driver_class(role: str, name: str) -> type[Driver]:
    from stevedore import driver as stevedore_driver  # slow import, only where drivers are loaded
    from stevedore.exception import NoMatches

    failure: list[BaseException] = []

    def on_failure(_manager: Any, _entrypoint: Any, exc: BaseException) -> None:
        failure.append(exc)

    try:
        manager = stevedore_driver.DriverManager(
            namespace=ROLES[role],
            name=name,
            invoke_on_load=False,
            on_load_failure_callback=on_failure,
        )
    except NoMatches as exc:
        if failure:
            reason = f"{type(failure[0]).__name__}: {failure[0]}"
            raise PluginError(f"{role} driver '{name}' failed to load: {reason}") from failure[0]
        available = ", ".join(installed_drivers(role)) or "none"
        raise PluginError(f"{role} driver '{name}' is not installed (installed: {available})") from exc
    cls = manager.driver
    base = ROLE_CLASSES[role]
    if not (isinstance(cls, type) and issubclass(cls, base)):
        raise PluginError(f"{role} driver '{name}' is not a {base.__name__} subclass")
    contract.check(f"{role} driver '{name}' ({cls.__module__}.{cls.__qualname__})", cls.contract)
    return cls


class Drivers:
    """The drivers this node runs, one per role (a list for network types).

    ``resolve`` imports the configured classes (so their config sections can be validated with the rest
    of the config); ``start`` constructs them once the node has its ZooKeeper session.
    """

    def __init__(self) -> None:
        self.classes: dict[tuple[str, str], type[Driver]] = {}
        self.by_role: dict[str, Driver] = {}
        self.networks: dict[str, NetworkDriver] = {}

    def resolve(self, config: DriversConfig) -> list[ConfigSection]:
        wanted = []
        for role in ROLE_CLASSES:
            chosen = getattr(config, role)
            wanted += [(role, name) for name in chosen] if role in LISTED_ROLES else [(role, chosen)]
        for role, name in wanted:
            if name:
                self.classes[(role, name)] = load_driver_class(role, name)
        return [cls.config_section for cls in self.classes.values() if cls.config_section is not None]

    def schemas(self) -> list[Schema]:
        """The ZooKeeper subtrees the configured drivers declare (``zk_schema``), checked like plugins'."""
        from pvc_core.zk.paths import plugin_root

        found = []
        for (role, name), cls in self.classes.items():
            schema = cls.zk_schema
            if schema is None:
                continue
            root = plugin_root(schema.owner)
            outside = [p for p in schema.paths if p != root and not p.startswith(root + "/")]
            if outside:
                raise PluginError(f"{role} driver '{name}': schema path {outside[0]} is outside its subtree {root}")
            found.append(schema)
        return found

    def start(self, host: Host) -> None:
        for (role, name), cls in self.classes.items():
            try:
                driver = cls(host, name)
            except Exception as exc:
                raise PluginError(f"{role} driver '{name}' failed to start: {type(exc).__name__}: {exc}") from exc
            if role == "network":
                self.networks[name] = driver  # type: ignore[assignment]
            else:
                self.by_role[role] = driver

    def get(self, role: str) -> Driver | None:
        return self.by_role.get(role)

    def describe(self) -> dict[str, Any]:
        described: dict[str, Any] = {role: driver.name for role, driver in self.by_role.items()}
        if self.networks:
            described["network"] = sorted(self.networks)
        return described

    def close(self) -> None:
        for driver in [*self.by_role.values(), *self.networks.values()]:
            with contextlib.suppress(Exception):  # closing is best effort at shutdown
                driver.close()
