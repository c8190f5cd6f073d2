"""The OSDs PVC runs on a node: created by ``pvc storage osd add NODE``, kept running by that node's pvcd.

The primary cannot start a daemon on another node, so OSD work for a node is a job in ZooKeeper, under
``/plugins/storage-ceph/osd-jobs/<node>/<job>``: the node's plugin watches its own folder, carries the job
out and writes the outcome into the job's znode, which the primary's action waits for. The node keeps the
list of its OSDs at ``/plugins/storage-ceph/osds/<node>``; when pvcd starts (after a power cut, say) and
every ``refresh_interval``, it starts those that do not run.

Each OSD keeps its data, key, admin socket, PID file and log in ``<osd_directory>/ceph-<id>``; the daemon
runs in a session of its own, so that restarting pvcd does not stop it. Two object stores:

* ``bluestore`` on a device of the node (a disk, a partition, or a file standing for one): the store is made
  once, at ``add``, and an OSD that restarts starts on the data it has. The device must be empty (its first
  MiB all zeros), so that a disk holding anything is never overwritten; a path that does not exist is made a
  sparse file of ``size``.
* ``memstore`` (the lab's): data in memory, so an OSD that restarts is made again with the same id, UUID and
  key, rejoins empty, and Ceph backfills it from the other copies.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import signal
import struct
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pvc_core.errors import InvalidRequest, NotFound, PvcError, Timeout
from pvc_core.zk.session import encode
from pvc_storage_ceph.driver import ROOT

if TYPE_CHECKING:
    from pvc_core.host import Host
    from pvc_storage_ceph.driver import CephStorage

JOBS = f"{ROOT}/osd-jobs"
RECORDS = f"{ROOT}/osds"
OBJECT_STORES = ("memstore", "bluestore")
EMPTY_CHECK_BYTES = 1024 * 1024  # a device must be zeros this far to be taken
MKFS_TIMEOUT = 60.0


def jobs_of(node: str) -> str:
    return f"{JOBS}/{node}"


def cephx_key() -> str:
    """A new cephx secret, in Ceph's own encoding (type, creation time, length, 16 random bytes)."""
    return base64.b64encode(struct.pack("<HIIH", 1, int(time.time()), 0, 16) + os.urandom(16)).decode()


class OsdError(PvcError):
    """An OSD could not be made or started on this node."""


class NodeOsds:
    """This node's OSDs: made, started, kept running, stopped."""

    def __init__(self, host: Host, driver: CephStorage) -> None:
        self.host = host
        self.driver = driver
        self.settings = driver.settings
        self.directory = Path(self.settings.osd_directory)
        # jobs (a worker) and keep_running (the plugin's thread) never act on the OSDs at once: an OSD being
        # forgotten must not be started again between its stop and the removal of its files
        self._lock = threading.RLock()

    # -- the record ---------------------------------------------------------------------------------------

    def records(self) -> list[dict[str, Any]]:
        return list(self.host.zk.get_json(f"{RECORDS}/{self.host.node}") or [])

    def _write(self, records: list[dict[str, Any]]) -> None:
        self.host.zk.put(f"{RECORDS}/{self.host.node}", encode(sorted(records, key=lambda r: r["id"])))

    # -- jobs (a worker thread of this node) ----------------------------------------------------------------

    def carry_out(self, job: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            return self._carry_out(job)

    def _carry_out(self, job: dict[str, Any]) -> dict[str, Any]:
        if job.get("action") == "add":
            device = job.get("device")
            return self.add(int(job["size"]), str(job.get("objectstore", "memstore")), str(device) if device else None)
        if job.get("action") == "forget":
            return self.forget(int(job["id"]))
        raise InvalidRequest(f"unknown OSD job {job.get('action')!r}")

    def add(self, size: int, objectstore: str, device: str | None = None) -> dict[str, Any]:
        if objectstore not in OBJECT_STORES:
            raise InvalidRequest(f"object store '{objectstore}' is not supported ({', '.join(OBJECT_STORES)})")
        if objectstore == "bluestore":
            size = self._take_device(device, size)
        elif device:
            raise InvalidRequest("device: only a bluestore OSD has a device (memstore keeps its data in memory)")
        osd_uuid = str(uuid.uuid4())
        key = cephx_key()
        created = self.driver.command("osd new", inbuf=json.dumps({"cephx_secret": key}).encode(), uuid=osd_uuid)
        osd_id = int(created["osdid"] if isinstance(created, dict) else str(created).strip())
        record: dict[str, Any] = {"id": osd_id, "uuid": osd_uuid, "objectstore": objectstore, "size": size}
        if device:
            record["device"] = device
        self.directory.mkdir(parents=True, exist_ok=True)
        self._key_file(osd_id).write_text(key)  # on this node only: ZooKeeper holds no OSD's key
        self._key_file(osd_id).chmod(0o600)
        self._write([*(r for r in self.records() if r["id"] != osd_id), record])
        self.make(record)
        self.start(record)
        return {"id": osd_id, "node": self.host.node, "objectstore": objectstore, "size_bytes": size, "device": device}

    def _take_device(self, device: str | None, size: int) -> int:
        """Check that ``device`` may become a bluestore OSD's (made a sparse file of ``size`` when it does not
        exist); its size in bytes. Refused: no path, a relative one, one some OSD here has, one not empty."""
        if not device:
            raise InvalidRequest("device: a bluestore OSD needs a device (a disk, partition or file on the node)")
        path = Path(device)
        if not path.is_absolute():
            raise InvalidRequest(f"device: '{device}' is not an absolute path")
        if any(r.get("device") == device for r in self.records()):
            raise InvalidRequest(f"device: {device} already holds an OSD of {self.host.node}")
        try:
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                with open(path, "wb") as handle:
                    handle.truncate(size)  # sparse: no space used until Ceph writes
            with open(path, "rb") as handle:
                start = handle.read(EMPTY_CHECK_BYTES)
                length = handle.seek(0, os.SEEK_END)
        except OSError as exc:
            raise InvalidRequest(f"device: {device} cannot be used on {self.host.node}: {exc.strerror}") from exc
        if start.strip(b"\0"):
            raise InvalidRequest(
                f"device: {device} is not empty (its first MiB holds data); wipe it first if it is meant for Ceph"
            )
        return length

    def forget(self, osd_id: int) -> dict[str, Any]:
        """Stop the OSD's daemon and delete its files and record (after it was purged from the cluster)."""
        record = next((r for r in self.records() if r["id"] == osd_id), None)
        if record is None:
            raise NotFound(f"osd.{osd_id} does not run on {self.host.node}")
        self._write([r for r in self.records() if r["id"] != osd_id])
        self.stop(record)
        shutil.rmtree(self._dir(record), ignore_errors=True)
        self._key_file(osd_id).unlink(missing_ok=True)
        return {"forgotten": osd_id, "node": self.host.node}

    # -- the daemon -------------------------------------------------------------------------------------------

    def _key_file(self, osd_id: int) -> Path:
        return self.directory / f"osd.{osd_id}.key"

    def _dir(self, record: dict[str, Any]) -> Path:
        return self.directory / f"ceph-{record['id']}"

    def _argv(self, record: dict[str, Any]) -> list[str]:
        d = self._dir(record)
        argv = [
            "ceph-osd",
            "--conf",
            self.settings.conffile,
            "-i",
            str(record["id"]),
            "--osd-data",
            str(d),
            "--keyring",
            str(d / "keyring"),
            "--admin-socket",
            str(d / "asok"),
            "--pid-file",
            str(d / "pid"),
            "--log-file",
            str(d / "log"),
            "--osd-objectstore",
            record["objectstore"],
            *(
                ["--bluestore-block-path", str(record["device"]), "--bluestore-block-create=false"]
                if record["objectstore"] == "bluestore"
                else ["--memstore-device-bytes", str(record["size"])]
            ),
            "--crush-location",
            f"root=default host={self.host.node}",
        ]
        if self.settings.osd_address:
            argv += ["--public-addr", self.settings.osd_address, "--cluster-addr", self.settings.osd_address]
        return argv

    def make(self, record: dict[str, Any]) -> None:
        """Make the OSD's store (again: a memstore OSD starts empty every time)."""
        d = self._dir(record)
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
        try:
            key = self._key_file(record["id"]).read_text().strip()
        except OSError as exc:
            raise OsdError(f"osd.{record['id']}'s key is missing on {self.host.node}: {exc.strerror}") from exc
        (d / "keyring").write_text(f"[osd.{record['id']}]\n\tkey = {key}\n")
        argv = [*self._argv(record), "--mkfs", "--osd-uuid", record["uuid"]]
        try:
            done = subprocess.run(argv, capture_output=True, text=True, timeout=MKFS_TIMEOUT, stdin=subprocess.DEVNULL)
        except FileNotFoundError as exc:
            raise OsdError("ceph-osd is not installed on this node (Debian's ceph-osd)") from exc
        except subprocess.TimeoutExpired as exc:
            raise Timeout(f"ceph-osd --mkfs of osd.{record['id']} took over {MKFS_TIMEOUT:g}s") from exc
        if done.returncode != 0:
            last = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[-1]
            raise OsdError(f"ceph-osd --mkfs of osd.{record['id']} failed: {last}")

    def pid(self, record: dict[str, Any]) -> int | None:
        """The PID of the OSD's daemon when it runs, else None."""
        try:
            pid = int((self._dir(record) / "pid").read_text().strip())
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except (OSError, ValueError, IndexError):
            return None
        return pid if state != "Z" and b"ceph-osd" in cmdline else None

    def start(self, record: dict[str, Any]) -> int:
        d = self._dir(record)
        if not d.is_dir():
            raise OsdError(f"osd.{record['id']}'s folder {d} is missing on {self.host.node}: it cannot start")
        with open(d / "out", "ab") as output:
            process = subprocess.Popen(
                [*self._argv(record), "-f"],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=output,
                start_new_session=True,  # outlives a restart of pvcd, as a systemd unit would
            )
        (d / "pid").write_text(f"{process.pid}\n")
        return process.pid

    def stop(self, record: dict[str, Any], timeout: float = 10.0) -> None:
        pid = self.pid(record)
        if pid is None:
            return
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self.pid(record) is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        if self.pid(record) is not None:
            os.kill(pid, signal.SIGKILL)

    def keep_running(self) -> list[int]:
        """Start every recorded OSD that does not run (a memstore one made again first); the ids started. An OSD
        the cluster no longer knows (removed while this node was down) is forgotten instead."""
        with self._lock:
            return self._keep_running()

    def _keep_running(self) -> list[int]:
        started: list[int] = []
        records = self.records()  # a bluestore OSD starts on the store it has (made once, at add)
        if not records:
            return started
        known = {int(o["osd"]) for o in (self.driver.command("osd dump") or {}).get("osds", [])}
        for record in records:
            if record["id"] not in known:
                self.forget(record["id"])
            elif self.pid(record) is None:
                if record["objectstore"] == "memstore":  # its data went with the process: made anew
                    self.make(record)
                self.start(record)
                started.append(record["id"])
        return started
