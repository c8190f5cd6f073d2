"""A real, throwaway Ceph cluster for tests: one mon, one mgr and memstore OSDs on 127.0.0.1, in a directory.

Everything lives under the directory: ``ceph.conf``, the keyrings, each daemon's data, admin socket, PID file
and log (``<name>.log`` from Ceph, ``<name>.out`` for its stdout/stderr). Clients use :attr:`CephCluster.conffile`
(``rados.Rados(conffile=cluster.conffile)``); the client.admin key is in :attr:`CephCluster.keyring`, which the
conf file names for every client.

The ports are fixed so that a test cluster never meets the lab's: the mon on ``mon_port`` (msgr2) and
``mon_v1_port``, every other daemon between ``port_min`` and ``port_max``. OSDs keep their data in memory
(``memstore``), so a cluster is up in seconds and needs no disk; ``osd_bytes`` is the size each OSD reports.

Setting up shells out to Ceph's own tools (``ceph-authtool``, ``monmaptool``, ``ceph``, the daemons with
``--mkfs``); Debian's ``ceph-mon ceph-osd ceph-mgr ceph-common`` packages provide them. Runs as root without
systemd. :meth:`CephCluster.stop` stops only the processes this object started, by PID, and deletes nothing.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from pvc_core.errors import PvcError
from pvc_core.testing.processes import is_running

MON_PORT = 26789
MON_V1_PORT = 26790
PORT_MIN = 26800
PORT_MAX = 26899
OSD_BYTES = 256 * 1024 * 1024
TOOLS = ("ceph-mon", "ceph-mgr", "ceph-osd", "ceph", "ceph-authtool", "monmaptool")


class CephClusterError(PvcError):
    """A test's Ceph cluster is not installed, or one of its daemons did not start."""


@dataclass
class Daemon:
    """One daemon of the cluster: its Ceph name (``mon.a``, ``mgr.x``, ``osd.0``) and, once started, its process."""

    kind: str
    id: str
    directory: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def name(self) -> str:
        return f"{self.kind}.{self.id}"

    @property
    def log(self) -> Path:
        return self.directory.parent / f"{self.name}.log"

    @property
    def output(self) -> Path:
        return self.directory.parent / f"{self.name}.out"

    @property
    def keyring(self) -> Path:
        return self.directory / "keyring"

    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None and is_running(self.process.pid)

    def log_tail(self) -> str:
        """The last meaningful line the daemon wrote (its log, else its stdout/stderr), for a one-line error."""
        for path in (self.log, self.output):
            try:
                lines = [line.strip() for line in path.read_text(errors="replace").splitlines() if line.strip()]
            except OSError:
                continue
            if lines:
                return f"{path}: {lines[-1][:300]}"
        return f"{self.log}: (empty)"


class CephCluster:
    """A Ceph cluster of our own in ``directory``: ``osds`` memstore OSDs, one mon, one mgr, all on loopback.

    ``start()`` builds and starts it and waits until every OSD is up and in and every placement group is
    active+clean; ``stop()`` stops what it started. Also a context manager (start on enter, stop on exit).
    """

    def __init__(
        self,
        directory: Path,
        osds: int = 3,
        mon_port: int = MON_PORT,
        mon_v1_port: int = MON_V1_PORT,
        port_min: int = PORT_MIN,
        port_max: int = PORT_MAX,
        osd_bytes: int = OSD_BYTES,
    ) -> None:
        self.directory = Path(directory).resolve()
        self.mon_port = mon_port
        self.mon_v1_port = mon_v1_port
        self.port_min = port_min
        self.port_max = port_max
        self.osd_bytes = osd_bytes
        self.fsid = str(uuid.uuid4())
        self.mon = Daemon("mon", "a", self.directory / "mon.a")
        self.mgr = Daemon("mgr", "x", self.directory / "mgr.x")
        self.osds = [Daemon("osd", str(i), self.directory / f"osd.{i}") for i in range(osds)]
        self._last_status: Any = None  # the last `ceph status` read while starting: what an error names

    # -- what clients need ---------------------------------------------------------------------------------

    @property
    def conffile(self) -> Path:
        """The cluster's ceph.conf: give it to every client (``rados.Rados(conffile=...)``, ``ceph -c``)."""
        return self.directory / "ceph.conf"

    @property
    def keyring(self) -> Path:
        """client.admin's keyring (the conf file already names it for clients)."""
        return self.directory / "client.admin.keyring"

    @property
    def mon_host(self) -> str:
        """The mon's addresses in Ceph's ``mon host`` form."""
        return f"[v2:127.0.0.1:{self.mon_port},v1:127.0.0.1:{self.mon_v1_port}]"

    @property
    def daemons(self) -> list[Daemon]:
        return [self.mon, self.mgr, *self.osds]

    @property
    def pids(self) -> list[int]:
        """The PIDs of the daemons this object started that are still running."""
        return [d.process.pid for d in self.daemons if d.process is not None and d.running()]

    def ceph(self, *args: str, timeout: float = 30.0) -> str:
        """Run the ``ceph`` CLI against this cluster as client.admin; its standard output."""
        return self._run(["ceph", "-c", str(self.conffile), "--connect-timeout", "10", *args], timeout=timeout)

    def ceph_json(self, *args: str, timeout: float = 30.0) -> Any:
        return json.loads(self.ceph(*args, "--format", "json", timeout=timeout))

    # -- lifecycle -----------------------------------------------------------------------------------------

    def start(self, timeout: float = 60.0) -> None:
        """Create the cluster, start every daemon, and wait until it serves (all OSDs up and in, all PGs
        active+clean) for at most ``timeout`` seconds; raise :class:`CephClusterError` otherwise."""
        missing = [tool for tool in TOOLS if shutil.which(tool) is None]
        if missing:
            raise CephClusterError(
                f"Ceph is not installed ({missing[0]} is missing); run scripts/setup test "
                "(Debian packages ceph-mon ceph-osd ceph-mgr ceph-common)"
            )
        deadline = time.monotonic() + timeout
        try:
            self._write_config()
            self._create_keyrings()
            self._start_mon(deadline)
            self._spawn(self.mgr)
            self._create_osds(deadline)
            self._wait_serving(deadline, timeout)
        except BaseException:
            self.stop()
            raise

    def stop(self, timeout: float = 10.0) -> None:
        """Stop every daemon this object started: SIGTERM, then SIGKILL after ``timeout`` seconds; wait for
        each to be gone. Deletes nothing; the directory keeps the logs."""
        # OSDs first: a mon that goes first leaves them retrying to reach it until they are killed
        ordered = [*self.osds, self.mgr, self.mon]
        for group in (ordered[:-2], ordered[-2:]):
            started = [d.process for d in group if d.process is not None]
            for process in started:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            end = time.monotonic() + timeout
            for process in started:
                try:
                    process.wait(max(0.0, end - time.monotonic()))
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()

    def __enter__(self) -> CephCluster:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- building it ---------------------------------------------------------------------------------------

    def _write_config(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        for daemon in self.daemons:
            daemon.directory.mkdir(exist_ok=True)
        d = self.directory
        # Admin sockets, PID files and logs only in the daemons' sections: in [global] every client (each
        # `ceph` call, each rados.Rados) would take the same socket path.
        daemon_paths = [
            "admin socket = $D/$name.asok",
            "pid file = $D/$name.pid",
            "log file = $D/$name.log",
            "keyring = $D/$name/keyring",
        ]
        sections: dict[str, list[str]] = {
            "global": [
                f"fsid = {self.fsid}",
                f"mon host = {self.mon_host}",
                "mon initial members = a",
                "public addr = 127.0.0.1",
                "cluster addr = 127.0.0.1",
                f"ms bind port min = {self.port_min}",
                f"ms bind port max = {self.port_max}",
                "auth allow insecure global id reclaim = false",
                # one copy of everything on a single "host" per OSD, without a health warning about it
                "osd pool default size = 1",
                "osd pool default min size = 1",
                "mon allow pool size one = true",
                "mon warn on pool no redundancy = false",
                "osd crush chooseleaf type = 0",
                "mon max pg per osd = 1000",
                "osd pool default pg autoscale mode = off",
                "osd pool default pg num = 8",
                "osd pool default pgp num = 8",
                # without these, a proposal waits a second and rbd operations are ten times slower
                "paxos propose interval = 0.1",
                "mgr stats period = 1",
                "mgr tick period = 1",
                "mgr initial modules = iostat",
                "mon allow pool delete = true",
            ],
            "client": [f"keyring = {self.keyring}"],
            "mon": [*daemon_paths, "mon data = $D/$name", "mon cluster log file = $D/cluster.log"],
            "mgr": [*daemon_paths, "mgr data = $D/$name"],
            "osd": [
                *daemon_paths,
                "osd data = $D/$name",
                "osd objectstore = memstore",
                f"memstore device bytes = {self.osd_bytes}",
                "osd fast shutdown = false",
            ],
        }
        for i, _osd in enumerate(self.osds):
            sections[f"osd.{i}"] = [f"crush location = root=default host=hv{i}"]
        text = "".join(
            f"[{name}]\n" + "".join(f"{line.replace('$D', str(d))}\n" for line in lines) + "\n"
            for name, lines in sections.items()
        )
        self.conffile.write_text(text)

    def _create_keyrings(self) -> None:
        mon_keyring = self.directory / "mon.keyring"
        self._new_keyring(mon_keyring, "mon.", mon="allow *")
        self._new_keyring(self.keyring, "client.admin", mon="allow *", osd="allow *", mgr="allow *", mds="allow *")
        # the mgr's key goes into the mon's initial keyring, so the mon knows it from its first start
        self._new_keyring(self.mgr.keyring, self.mgr.name, mon="allow profile mgr", osd="allow *", mds="allow *")
        for imported in (self.keyring, self.mgr.keyring):
            self._run(["ceph-authtool", str(mon_keyring), "--import-keyring", str(imported)])

    def _new_keyring(self, path: Path, name: str, **caps: str) -> None:
        """A keyring at ``path`` holding a new key for ``name`` with ``caps`` (service: capability)."""
        cap_args = [arg for service, cap in caps.items() for arg in ("--cap", service, cap)]
        self._run(["ceph-authtool", "--create-keyring", str(path), "--gen-key", "-n", name, *cap_args])

    def _start_mon(self, deadline: float) -> None:
        monmap = self.directory / "monmap"
        self._run(
            ["monmaptool", "--create", "--clobber", "--fsid", self.fsid, "--addv", "a", self.mon_host, str(monmap)]
        )
        mon_keyring = str(self.directory / "mon.keyring")
        self._run(
            [
                "ceph-mon",
                "-c",
                str(self.conffile),
                "--mkfs",
                "-i",
                "a",
                "--monmap",
                str(monmap),
                "--keyring",
                mon_keyring,
            ]
        )
        self._spawn(self.mon)
        self._wait(deadline, self.mon, "answering", lambda: bool(self.ceph("mon", "stat", timeout=5)))

    def _create_osds(self, deadline: float) -> None:
        mkfs: list[tuple[Daemon, subprocess.Popen[bytes]]] = []
        for osd in self.osds:
            key = self._run(["ceph-authtool", "--gen-print-key"]).strip()
            osd_uuid = str(uuid.uuid4())
            # registers the OSD's id, UUID and cephx key in one step; the key file is what the OSD reads
            secrets = self.directory / f"{osd.name}.secrets.json"
            secrets.write_text(json.dumps({"cephx_secret": key}))
            self.ceph("osd", "new", osd_uuid, osd.id, "-i", str(secrets))
            secrets.unlink()
            self._run(["ceph-authtool", "--create-keyring", str(osd.keyring), "-n", osd.name, "--add-key", key])
            argv = ["ceph-osd", "-c", str(self.conffile), "-i", osd.id, "--mkfs", "--osd-uuid", osd_uuid]
            with open(osd.output, "ab") as output:
                mkfs.append((osd, subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=output, stderr=output)))
        for osd, process in mkfs:
            try:
                code = process.wait(max(1.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                raise CephClusterError(f"{osd.name}: ceph-osd --mkfs did not finish ({osd.log_tail()})") from None
            if code != 0:
                raise CephClusterError(f"{osd.name}: ceph-osd --mkfs failed with {code} ({osd.log_tail()})")
        for osd in self.osds:
            self._spawn(osd)

    def _wait_serving(self, deadline: float, timeout: float) -> None:
        def serving() -> bool:
            status = self.ceph_json("status", timeout=5)
            self._last_status = status
            osdmap = status["osdmap"].get("osdmap", status["osdmap"])  # nested before Ceph 16.2.x
            pgs = status["pgmap"]
            clean = sum(s["count"] for s in pgs.get("pgs_by_state", []) if s["state_name"] == "active+clean")
            return bool(
                status["mgrmap"].get("available")
                and osdmap["num_up_osds"] == len(self.osds)
                and osdmap["num_in_osds"] == len(self.osds)
                and clean == pgs["num_pgs"]
            )

        self._last_status = None
        while not self._serving_quietly(serving):
            self._raise_if_exited()
            if time.monotonic() > deadline:
                raise CephClusterError(f"Ceph cluster not serving after {timeout:g}s: {self._laggard()}")
            time.sleep(0.2)

    def _laggard(self) -> str:
        """Which daemon holds the cluster back, with its log's last line."""
        status = self._last_status
        if status is None:
            return f"{self.mon.name} does not answer ({self.mon.log_tail()})"
        if not status["mgrmap"].get("available"):
            return f"{self.mgr.name} is not available ({self.mgr.log_tail()})"
        try:
            up = {str(o["osd"]) for o in self.ceph_json("osd", "dump", timeout=5)["osds"] if o["up"]}
        except CephClusterError:
            up = set()
        for osd in self.osds:
            if osd.id not in up:
                return f"{osd.name} is not up ({osd.log_tail()})"
        states = ", ".join(f"{s['count']} {s['state_name']}" for s in status["pgmap"].get("pgs_by_state", []))
        return f"placement groups not all active+clean: {states} (see {self.directory / 'cluster.log'})"

    # -- helpers -------------------------------------------------------------------------------------------

    def _spawn(self, daemon: Daemon) -> None:
        # -f: stay in the foreground (so the PID we hold is the daemon's) and still log to its log file
        argv = [f"ceph-{daemon.kind}", "-f", "-c", str(self.conffile), "-i", daemon.id]
        with open(daemon.output, "ab") as output:
            daemon.process = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )

    def _raise_if_exited(self) -> None:
        for daemon in self.daemons:
            if daemon.process is not None and not daemon.running():
                raise CephClusterError(
                    f"{daemon.name} exited with {daemon.process.poll()} while starting ({daemon.log_tail()})"
                )

    def _serving_quietly(self, condition: Any) -> bool:
        try:
            return bool(condition())
        except (CephClusterError, KeyError, ValueError):
            return False  # not answering yet, or a status without the part we read

    def _wait(self, deadline: float, daemon: Daemon, what: str, condition: Any) -> None:
        while not self._serving_quietly(condition):
            self._raise_if_exited()
            if time.monotonic() > deadline:
                raise CephClusterError(f"{daemon.name} not {what} in time ({daemon.log_tail()})")
            time.sleep(0.1)

    def _run(self, argv: list[str], timeout: float = 30.0) -> str:
        try:
            done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise CephClusterError(f"{argv[0]} {' '.join(argv[1:3])}: no answer within {timeout:g}s") from None
        if done.returncode != 0:
            last = (done.stderr or done.stdout).decode(errors="replace").strip().splitlines()
            raise CephClusterError(
                f"{argv[0]} {' '.join(argv[1:4])} failed with {done.returncode}: {last[-1] if last else ''}"
            )
        return done.stdout.decode(errors="replace")
