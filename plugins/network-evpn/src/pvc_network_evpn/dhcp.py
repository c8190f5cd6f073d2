"""DHCP and DNS of a managed network: one dnsmasq per network on the primary, its leases in ZooKeeper.

dnsmasq runs as a child of pvcd with ``--leasefile-ro``: it keeps no lease file and tells every change to
its ``--dhcp-script`` (``lease-hook``, :mod:`pvc_network_evpn.lease_hook`), which hands it over a unix
socket to this driver, which writes it to ``/plugins/network-evpn/leases/<VNI>``. When dnsmasq starts
(on a new primary), the script's ``init`` answers with the leases ZooKeeper holds: leases survive a
change of primary. Static reservations are a ``dhcp-hostsfile`` (re-read on SIGHUP). ``no-ping``: a new
lease is not held up 3 s by dnsmasq's ping check.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pvc_core.log import get_logger
from pvc_core.networks.linux import Commands, bridge_name
from pvc_core.roles.network import Lease, Network, NetworkError

HOOK = "lease-hook"
SOCKET = "leases.sock"


def dnsmasq_argv(program: str, network: Network, directory: Path, lease_time: str) -> list[str]:
    """dnsmasq's command line for ``network`` (its gateway addresses must be on the bridge already)."""
    bridge = bridge_name(network.vni)
    argv = [
        program,
        "--keep-in-foreground",
        "--conf-file=",
        "--no-hosts",
        "--no-resolv",
        f"--interface={bridge}",
        "--bind-interfaces",
        "--except-interface=lo",
        "--log-facility=-",
        f"--pid-file={directory / 'dnsmasq.pid'}",
        "--port=53",
        "--user=root",
    ]
    for server in network.dns_servers:
        argv.append(f"--server={server}")
    if network.domain:
        argv += [f"--domain={network.domain}", f"--local=/{network.domain}/", "--expand-hosts"]
    subnet = network.ipv4
    if subnet is not None and subnet.dhcp is not None:
        net = ipaddress.ip_network(subnet.cidr)
        argv += [
            f"--dhcp-range={subnet.dhcp.start},{subnet.dhcp.end},{net.netmask},{lease_time}",
            f"--dhcp-hostsfile={directory / 'hosts'}",
            "--leasefile-ro",
            f"--dhcp-script={directory / HOOK}",
            "--dhcp-authoritative",
            "--no-ping",
        ]
        if subnet.gateway:
            argv += [
                f"--dhcp-option=option:router,{subnet.gateway}",
                f"--dhcp-option=option:dns-server,{subnet.gateway}",
            ]
        if network.mtu != 1500:
            argv.append(f"--dhcp-option=option:mtu,{network.mtu}")
    if network.ipv6 is not None and network.ipv6.gateway:
        argv += ["--enable-ra", f"--dhcp-range=::,constructor:{bridge},ra-stateless,ra-names"]
    return argv


def hosts_file(network: Network) -> str:
    """The reservations as dnsmasq's dhcp-hostsfile lines: ``MAC,ADDRESS[,HOSTNAME]``."""
    lines = [",".join(x for x in (r.mac, r.address, r.hostname) if x) for r in network.reservations]
    return "".join(f"{line}\n" for line in lines)


class Dnsmasqs:
    """The dnsmasq of each network this node serves, and the socket its lease hook talks to."""

    def __init__(
        self,
        commands: Commands,
        state_dir: Path,
        program: str,
        lease_time: str,
        leases_changed: Callable[[int, str, dict[str, Any]], None],
        leases_now: Callable[[int], list[Lease]],
    ) -> None:
        self.commands = commands
        self.state_dir = state_dir
        self.program = program
        self.lease_time = lease_time
        self.leases_changed = leases_changed
        self.leases_now = leases_now
        self.log = get_logger(plugin="network-evpn")
        self.running: dict[int, tuple[subprocess.Popen[bytes], list[str]]] = {}
        self._lock = threading.Lock()
        self._server: socket.socket | None = None

    # -- dnsmasq ----------------------------------------------------------------------------------------

    def directory(self, vni: int) -> Path:
        return self.state_dir / str(vni)

    def wanted(self, network: Network) -> bool:
        return bool(
            (network.ipv4 is not None and (network.ipv4.dhcp is not None or network.ipv4.gateway))
            or network.domain
            or (network.ipv6 is not None and network.ipv6.gateway)
        )

    def ensure(self, network: Network) -> None:
        """dnsmasq runs for ``network`` with its current settings and reservations (restarted when its
        command line changed, SIGHUP when only the reservations did)."""
        if not self.wanted(network):
            self.stop(network.vni)
            return
        socket_path = self.serve_leases()
        directory = self.directory(network.vni)
        directory.mkdir(parents=True, exist_ok=True)
        hook = directory / HOOK
        script = f'#!/bin/sh\nexec {sys.executable} -m pvc_network_evpn.lease_hook "{socket_path}" {network.vni} "$@"\n'
        if not hook.exists() or hook.read_text() != script:
            hook.write_text(script)
            hook.chmod(0o755)
        hosts = directory / "hosts"
        new_hosts = hosts_file(network)
        hosts_changed = not hosts.exists() or hosts.read_text() != new_hosts
        if hosts_changed:
            hosts.write_text(new_hosts)
        argv = dnsmasq_argv(self.program, network, directory, self.lease_time)
        with self._lock:
            found = self.running.get(network.vni)
            if found is not None and found[0].poll() is None and found[1] == argv:
                if hosts_changed:
                    found[0].send_signal(signal.SIGHUP)
                return
        self.stop(network.vni)
        log = (directory / "dnsmasq.log").open("ab")
        try:
            process = subprocess.Popen(
                self.commands.argv(argv), stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
            )
        except OSError as exc:
            raise NetworkError(f"dnsmasq for network {network.vni} could not start: {exc.strerror}") from exc
        finally:
            log.close()
        time.sleep(0.05)
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline and process.poll() is None and not self._listening(network):
            time.sleep(0.02)
        if process.poll() is not None:
            raise NetworkError(f"dnsmasq for network {network.vni} exited at once: {self.last_line(network.vni)}")
        with self._lock:
            self.running[network.vni] = (process, argv)
        self.log.info("dnsmasq_started", vni=network.vni, pid=process.pid)

    def _listening(self, network: Network) -> bool:
        """dnsmasq is up once it says so in its log (it writes 'started' first thing)."""
        return "started, version" in self.tail(network.vni)

    def tail(self, vni: int, size: int = 4096) -> str:
        path = self.directory(vni) / "dnsmasq.log"
        try:
            with path.open("rb") as log:
                log.seek(max(0, path.stat().st_size - size))
                return log.read().decode(errors="replace")
        except OSError:
            return ""

    def last_line(self, vni: int) -> str:
        lines = [line for line in self.tail(vni).splitlines() if line.strip()]
        return lines[-1].strip() if lines else "no message"

    def stop(self, vni: int) -> None:
        with self._lock:
            found = self.running.pop(vni, None)
        if found is None:
            self._stop_leftover(vni)
            return
        process = found[0]
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=3)
        self.log.info("dnsmasq_stopped", vni=vni)

    def _stop_leftover(self, vni: int) -> None:
        """A dnsmasq for this network that an earlier pvcd started (it outlives pvcd: its own session), found
        by its PID file and checked to be ours by its command line."""
        pid_file = self.directory(vni) / "dnsmasq.pid"
        try:
            pid = int(pid_file.read_text().strip())
            command = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except (OSError, ValueError):
            return
        if "dnsmasq" not in command or str(self.directory(vni)) not in command:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)
        self.log.info("dnsmasq_leftover_stopped", vni=vni, pid=pid)
        pid_file.unlink(missing_ok=True)

    def stop_all(self) -> None:
        for vni in list(self.running):
            self.stop(vni)
        if self._server is not None:
            with contextlib.suppress(OSError):
                self._server.close()
            self._server = None

    def dead(self) -> list[int]:
        """The networks whose dnsmasq should run here and does not."""
        with self._lock:
            return sorted(vni for vni, (process, _argv) in self.running.items() if process.poll() is not None)

    # -- the lease hook's socket ---------------------------------------------------------------------------------

    def serve_leases(self) -> Path:
        """Listen for the lease hooks (once); the socket's path."""
        path = self.state_dir / SOCKET
        if self._server is not None:
            return path
        self.state_dir.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        server.bind(str(path))
        os.chmod(path, 0o600)
        server.listen(16)
        self._server = server
        threading.Thread(target=self._accept, args=(server,), name="dnsmasq-leases", daemon=True).start()
        return path

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                connection, _ = server.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._answer, args=(connection,), name="dnsmasq-lease", daemon=True).start()

    def _answer(self, connection: socket.socket) -> None:
        with connection:
            connection.settimeout(10)
            try:
                request = json.loads(connection.makefile("r").readline() or "{}")
                reply = self.handle(request)
            except Exception as exc:  # the hook must always get an answer; dnsmasq waits for it
                self.log.exception("lease_hook_failed")
                reply = {"error": f"{type(exc).__name__}: {exc}"}
            with contextlib.suppress(OSError):
                connection.sendall((json.dumps(reply) + "\n").encode())

    def handle(self, request: dict[str, Any]) -> dict[str, Any]:
        vni = int(request.get("vni", 0))
        action = str(request.get("action", ""))
        if action == "init":
            return {"lines": [_lease_line(lease) for lease in self.leases_now(vni)]}
        if action in ("add", "old", "del"):
            self.leases_changed(vni, action, request)
        return {"ok": True}


def _lease_line(lease: Lease) -> str:
    """One line of dnsmasq's lease file: ``EXPIRES MAC ADDRESS HOSTNAME CLIENT-ID``."""
    return f"{int(lease.expires)} {lease.mac} {lease.address} {lease.hostname or '*'} *"
