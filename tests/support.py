"""Helpers for the cross-package tests: waiting on conditions, pvcd processes, the real ``pvc`` command."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from pvc_lab.processes import is_running, terminate

PVCD = str(Path(sys.executable).with_name("pvcd"))
PVC = str(Path(sys.executable).with_name("pvc"))


def wait_until(condition: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    """Poll ``condition`` until it returns something truthy; fail the test naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = condition()
        except Exception:  # noqa: BLE001 - a transient read error while the cluster moves
            value = None
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g}s waiting for {what}")
        time.sleep(0.05)


class NodeProcess:
    """One pvcd, started from a real config file, stopped by PID."""

    def __init__(self, name: str, directory: Path, config: dict[str, Any]) -> None:
        self.name = name
        self.directory = directory
        self.config_path = directory / f"{name}.yaml"
        self.log_path = directory / f"{name}.log"
        self.config = config
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> NodeProcess:
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
        if self.running():
            os.kill(self.pid, sig)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        if self.process is not None:
            self.process.wait(10)

    def stop(self, timeout: float = 20.0) -> int | None:
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
        return self.log_path.read_text() if self.log_path.exists() else ""

    def log_events(self) -> list[dict[str, Any]]:
        events = []
        for line in self.log().splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:
                continue
        return events


class Nodes:
    """Start pvcd nodes for a test; all of them are stopped at teardown."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.started: list[NodeProcess] = []

    def config(self, name: str, hosts: str, coordinators: list[str], **extra: Any) -> dict[str, Any]:
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
        coordinators = coordinators if coordinators is not None else [name]
        node = NodeProcess(name, self.directory, self.config(name, hosts, coordinators, **extra))
        self.started.append(node)
        return node.start()

    def cluster(self, hosts: str, names: list[str], **extra: Any) -> list[NodeProcess]:
        return [self.start(name, hosts, names, **extra) for name in names]

    def stop_all(self) -> None:
        for node in self.started:
            node.stop()
            if node.process is not None and is_running(node.pid):
                terminate(node.pid, timeout=1.0, sig=signal.SIGKILL)


def run_pvc(*args: str, env: dict[str, str] | None = None, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    """Run the real ``pvc`` command."""
    environment = dict(os.environ)
    environment.update(env or {})
    return subprocess.run([PVC, *args], capture_output=True, text=True, timeout=timeout, env=environment)


HYPERVISOR_XML = """<node>
  <cpu><mhz>2000</mhz><nodes>1</nodes><sockets>1</sockets><cores>{cpus}</cores><threads>1</threads></cpu>
  <memory>{memory_kib}</memory>
</node>
"""


def private_hypervisor(directory: Path, node: str, memory_mib: int = 4096, cpus: int = 4) -> str:
    """A private libvirt test-driver hypervisor for one node: its URI."""
    path = directory / f"{node}-hypervisor.xml"
    path.write_text(HYPERVISOR_XML.format(cpus=cpus, memory_kib=memory_mib * 1024))
    return f"test://{path}"


def domain_xml(name: str, memory_mib: int = 512, vcpus: int = 1, uuid: str | None = None, os_type: str = "hvm") -> str:
    """A minimal domain for libvirt's test driver."""
    uuid_line = f"<uuid>{uuid}</uuid>" if uuid else ""
    return (
        f"<domain type='test'><name>{name}</name>{uuid_line}<memory unit='MiB'>{memory_mib}</memory>"
        f"<vcpu>{vcpus}</vcpu><os><type>{os_type}</type></os></domain>"
    )


def compute_nodes_ready(cluster: Any, count: int, primary: bool = True) -> Callable[[], bool]:
    """A condition for ``wait_until``: ``count`` nodes alive, running, with a compute driver that has
    published its resources (and a primary, unless ``primary`` is false)."""

    def ready() -> bool:
        running = sum(
            v.alive and v.daemon_state == "run" and "compute" in v.record.drivers and "vms" in v.record.resources
            for v in cluster.nodes()
        )
        return running == count and (not primary or bool(cluster.primary()))

    return ready


def compute_node(
    nodes: Nodes, name: str, hosts: str, coordinators: list[str], memory_mib: int = 4096, **extra: Any
) -> NodeProcess:
    """A pvcd with the libvirt compute driver on its own test-driver hypervisor (``extra``: more config)."""
    return nodes.start(
        name,
        hosts,
        coordinators,
        drivers={"compute": "libvirt"},
        compute_libvirt={"uri": private_hypervisor(nodes.directory, name, memory_mib)},
        vms={"shutdown_timeout": 5.0, "resync_interval": 1.0},
        **extra,
    )
