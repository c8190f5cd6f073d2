"""Real ``pvcd`` processes for a test, each started from a real config file and stopped by PID."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path
from typing import Any

from pvc_core.testing.processes import is_running, terminate
from pvc_core.testing.programs import PVCD


class NodeProcess:
    """One pvcd, started from a real config file (``<directory>/<name>.yaml``), its output in
    ``<directory>/<name>.log``, stopped by PID."""

    def __init__(self, name: str, directory: Path, config: dict[str, Any]) -> None:
        self.name = name
        self.directory = directory
        self.config_path = directory / f"{name}.yaml"
        self.log_path = directory / f"{name}.log"
        self.config = config
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> NodeProcess:
        """Write the config file and start pvcd on it (in its own session); returns at once."""
        self.config_path.write_text(json.dumps(self.config))
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child
        self.process = subprocess.Popen(
            [PVCD, "--config", str(self.config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def signal(self, sig: int) -> None:
        """Send ``sig`` (SIGSTOP to pause the node, SIGCONT to resume it) while it runs."""
        if self.running():
            os.kill(self.pid, sig)

    def kill(self) -> None:
        """SIGKILL: the node dies without leaving the cluster."""
        self.signal(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(10)

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM (after SIGCONT, in case it is paused) and wait; its exit status, or None if never started."""
        if self.process is None:
            return None
        if self.running():
            self.process.send_signal(signal.SIGCONT)
            self.process.terminate()
            try:
                return self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
        return self.process.wait(10)

    def log(self) -> str:
        """Everything the node wrote so far."""
        return self.log_path.read_text() if self.log_path.exists() else ""

    def log_events(self) -> list[dict[str, Any]]:
        """The node's JSON log lines, parsed (other lines are skipped)."""
        events = []
        for line in self.log().splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
        return events


class Nodes:
    """Start pvcd nodes for a test in ``directory``; ``stop_all`` (the ``nodes`` fixture's teardown) stops
    every one of them."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.started: list[NodeProcess] = []

    def config(self, name: str, hosts: str, coordinators: list[str], **extra: Any) -> dict[str, Any]:
        """A node config with short timers (session 2 s, keepalive 1 s, dead grace 2 s, hand-over 3 s) and
        JSON debug logs; each of ``extra`` becomes a top-level key (``plugins``, ``drivers``, a plugin's
        section)."""
        config: dict[str, Any] = {
            "node": name,
            "coordinators": coordinators,
            "zookeeper": {"hosts": hosts, "session_timeout": 2.0},
            "timers": {"keepalive": 1.0, "dead_grace": 2.0, "handover_timeout": 3.0},
            "logging": {"format": "json", "level": "debug"},
        }
        for key, value in extra.items():
            config[key] = value
        return config

    def start(self, name: str, hosts: str, coordinators: list[str] | None = None, **extra: Any) -> NodeProcess:
        """Start node ``name`` on the cluster at ``hosts`` (coordinators: ``[name]`` unless given)."""
        coordinators = coordinators if coordinators is not None else [name]
        node = NodeProcess(name, self.directory, self.config(name, hosts, coordinators, **extra))
        self.started.append(node)
        return node.start()

    def cluster(self, hosts: str, names: list[str], **extra: Any) -> list[NodeProcess]:
        """Start every one of ``names``, all of them coordinators."""
        return [self.start(name, hosts, names, **extra) for name in names]

    def stop_all(self) -> None:
        for node in self.started:
            node.stop()
            if node.process is not None and is_running(node.pid):
                terminate(node.pid, timeout=1.0, sig=signal.SIGKILL)
