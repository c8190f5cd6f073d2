"""The lab's Ceph cluster, as a PVC cluster has it: a monitor and a manager on every coordinator node, each
in its node's network namespace on the node's address (so a power cut takes them down with the node).

The OSDs are not the lab's: once the nodes run, ``pvc lab up`` asks PVC for one per node (``pvc storage osd
add``), and each node's pvcd runs its own, in its namespace. They use ``memstore`` (no disk needed): a node
powered on again makes its OSD anew, empty, and Ceph backfills it from the other two copies.

Files: ``STATE/ceph/`` holds the cluster's ``ceph.conf`` and keyrings (the same for every node, as
``/etc/ceph`` would be); ``STATE/NODE/ceph/`` holds that node's monitor and manager data, sockets, logs and
PID files.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from pvc_lab.errors import LabError
from pvc_lab.processes import owned_pid, run, spawn, terminate

TOOLS = ("ceph-mon", "ceph-mgr", "ceph-osd", "ceph", "ceph-authtool", "monmaptool")
MON_PORT = 3300  # msgr2; msgr1 on 6789: Ceph's own ports, on each node's address
OSD_BYTES = 1 << 30


class CephLabError(LabError):
    """The lab's Ceph cluster could not be made or did not come up."""


class LabCeph:
    def __init__(self, state: Path, nodes: dict[str, str], subnet: str) -> None:
        """``nodes``: coordinator name -> its address on the lab network."""
        self.directory = state / "ceph"
        self.state = state
        self.nodes = nodes
        self.subnet = subnet

    @property
    def conffile(self) -> Path:
        return self.directory / "ceph.conf"

    @property
    def keyring(self) -> Path:
        return self.directory / "client.admin.keyring"

    def node_dir(self, node: str) -> Path:
        return self.state / node / "ceph"

    # -- making it ------------------------------------------------------------------------------------------

    def create(self) -> None:
        """Write the config and keyrings and make every monitor's store (once: kept across power cuts)."""
        for tool in TOOLS:
            if shutil.which(tool) is None:
                raise CephLabError(f"'{tool}' is not installed; run scripts/setup all")
        if self.conffile.exists():
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        fsid = str(uuid.uuid4())
        mon_host = ",".join(f"[v2:{a}:{MON_PORT},v1:{a}:6789]" for a in self.nodes.values())
        self.conffile.write_text(
            "[global]\n"
            f"fsid = {fsid}\n"
            f"mon host = {mon_host}\n"
            f"mon initial members = {', '.join(self.nodes)}\n"
            f"public network = {self.subnet}\n"
            "auth allow insecure global id reclaim = false\n"
            "osd pool default size = 3\n"
            "osd pool default min size = 2\n"
            "osd crush chooseleaf type = 1\n"  # copies on different nodes, as on real servers
            "mon max pg per osd = 1000\n"
            "osd pool default pg autoscale mode = off\n"
            "osd pool default pg num = 16\n"
            "osd pool default pgp num = 16\n"
            "mon allow pool delete = true\n"
            "mon warn on pool no redundancy = false\n"
            # a power cut is the demo: a node's OSD is marked out after a minute, not ten
            "mon osd down out interval = 60\n"
            # without these a proposal waits a second and every rbd operation is ten times slower
            "paxos propose interval = 0.1\n"
            # a monitor lost with its node is noticed in seconds (the defaults take 10 s and more, while no
            # command is answered), and clients hunt for another one quickly
            "mon lease = 1\n"
            "mon election timeout = 2\n"
            "mon client hunt interval = 0.5\n"
            # every daemon's and client's link to its monitor: a monitor lost in a power cut answers nothing
            # and resets nothing, so only these notice it. OSDs whose monitor died send the "up_thru" that
            # peering waits for into the void: at Ceph's 10 s / 30 s, placement groups sat peering (every
            # VM disk on them blocked) for 13 s after their OSD was marked down
            "mon client ping interval = 1\n"
            "mon client ping timeout = 3\n"
            "mgr stats period = 1\n"
            "mgr tick period = 1\n"
            # a manager lost with its node is replaced in seconds, not 30 (until then "osd df" and the
            # plugin's status and OSD listings time out)
            "mon mgr beacon grace = 4\n"
            "mgr initial modules = iostat\n"
            f"memstore device bytes = {OSD_BYTES}\n"
            "osd fast shutdown = false\n"
            "[client]\n"
            f"keyring = {self.keyring}\n"
            # QEMU's disks too: an operation stuck on an OSD that died silently has the client fetch the
            # OSD map after a second, not ten (see docs/storage.md, "Ceph settings for fast failover")
            "objecter timeout = 1\n"
            "objecter tick interval = 1\n"
        )
        mon_keyring = self.directory / "mon.keyring"
        run(
            [
                "ceph-authtool",
                "--create-keyring",
                str(mon_keyring),
                "--gen-key",
                "-n",
                "mon.",
                "--cap",
                "mon",
                "allow *",
            ],
            30,
        )
        caps = [c for kind in ("mon", "osd", "mgr", "mds") for c in ("--cap", kind, "allow *")]
        run(["ceph-authtool", "--create-keyring", str(self.keyring), "--gen-key", "-n", "client.admin", *caps], 30)
        run(["ceph-authtool", str(mon_keyring), "--import-keyring", str(self.keyring)], 30)
        monmap = self.directory / "monmap"
        addv = [a for node, address in self.nodes.items()
                for a in ("--addv", node, f"[v2:{address}:{MON_PORT},v1:{address}:6789]")]  # fmt: skip
        run(["monmaptool", "--create", "--fsid", fsid, *addv, str(monmap)], 30)
        for node in self.nodes:
            directory = self.node_dir(node)
            shutil.rmtree(directory, ignore_errors=True)
            directory.mkdir(parents=True)
            run(
                [
                    "ceph-mon",
                    *self._paths(node, "mon"),
                    "--mkfs",
                    "--monmap",
                    str(monmap),
                    "--keyring",
                    str(mon_keyring),
                ],
                60,
                CephLabError,
            )

    def _paths(self, node: str, kind: str) -> list[str]:
        d = self.node_dir(node)
        name = f"{kind}.{node}"
        return [
            "-c", str(self.conffile), "-i", node,
            f"--{kind}-data", str(d / name),
            "--admin-socket", str(d / f"{name}.asok"),
            "--pid-file", str(d / f"{name}.pidfile"),
            "--log-file", str(d / f"{name}.log"),
            "--public-addr", self.nodes[node],
        ]  # fmt: skip

    # -- running it -----------------------------------------------------------------------------------------

    def pid(self, node: str, kind: str) -> int | None:
        # its data folder on its command line: a reused PID is never taken for the daemon
        return owned_pid(self.node_dir(node) / f"{kind}.pid", str(self.node_dir(node) / f"{kind}.{node}"))

    def start_node(self, node: str, netns: str) -> None:
        """Start the node's monitor and manager in its namespace (each only if it does not run); the
        manager's key comes from the monitors, so a quorum of them must run (see :meth:`start`)."""
        self.start_mon(node, netns)
        self.start_mgr(node, netns)

    def start(self, netns: dict[str, str], timeout: float) -> None:
        """Start every monitor, wait for their quorum, then every manager, and wait for an active one."""
        for node in self.nodes:
            self.start_mon(node, netns[node])
        self.wait_quorum(timeout, manager=False)
        for node in self.nodes:
            self.start_mgr(node, netns[node])
        self.wait_quorum(timeout)

    def start_mon(self, node: str, netns: str) -> None:
        d = self.node_dir(node)
        if self.pid(node, "mon") is None:
            spawn(
                ["ip", "netns", "exec", netns, "ceph-mon", "-f", *self._paths(node, "mon")],
                d / "mon.out",
                d / "mon.pid",
            )

    def start_mgr(self, node: str, netns: str) -> None:
        d = self.node_dir(node)
        if self.pid(node, "mgr") is None:
            keyring = d / f"mgr.{node}" / "keyring"
            if not keyring.exists():
                keyring.parent.mkdir(parents=True, exist_ok=True)
                caps = ["mon", "allow profile mgr", "osd", "allow *", "mds", "allow *"]
                key = self.ceph_json("auth", "get-or-create", f"mgr.{node}", *caps)
                keyring.write_text(f"[mgr.{node}]\n\tkey = {key[0]['key']}\n")
            argv = [
                "ip",
                "netns",
                "exec",
                netns,
                "ceph-mgr",
                "-f",
                *self._paths(node, "mgr"),
                "--keyring",
                str(keyring),
            ]
            spawn(argv, d / "mgr.out", d / "mgr.pid")

    def stop_node(self, node: str) -> None:
        for kind in ("mgr", "mon"):
            pid = self.pid(node, kind)
            if pid is not None:
                terminate(pid, timeout=10.0)

    def ceph(self, *args: str, timeout: float = 30.0) -> str:
        result = run(
            ["ceph", "-c", str(self.conffile), "--connect-timeout", "10", *args], timeout, CephLabError, text=True
        )
        return str(result.stdout)

    def ceph_json(self, *args: str, timeout: float = 30.0) -> list[dict[str, Any]]:
        found = json.loads(self.ceph(*args, "--format", "json", timeout=timeout) or "null")
        return found if isinstance(found, list) else [found]

    def wait_quorum(self, timeout: float, manager: bool = True) -> None:
        """Wait until every monitor is in the quorum (and, with ``manager``, a manager is active)."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            try:
                status = self.ceph_json("status", timeout=15)[0]
                quorum = status.get("quorum_names", [])
                active = status.get("mgrmap", {}).get("available", False)
                if len(quorum) == len(self.nodes) and (active or not manager):
                    return
                last = f"quorum {quorum}, manager {'active' if active else 'not active'}"
            except (CephLabError, ValueError, subprocess.SubprocessError) as exc:
                last = str(exc)
            time.sleep(0.5)
        raise CephLabError(f"Ceph did not come up within {timeout:g}s: {last}")

    def wait_healthy(self, osds: int, timeout: float) -> None:
        """Wait until ``osds`` OSDs are up and in and every placement group is active+clean."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            try:
                status = self.ceph_json("status", timeout=15)[0]
                osdmap = status["osdmap"].get("osdmap", status["osdmap"])
                pgs = status["pgmap"]
                clean = sum(s["count"] for s in pgs.get("pgs_by_state", []) if s["state_name"] == "active+clean")
                if osdmap["num_up_osds"] >= osds and osdmap["num_in_osds"] >= osds and clean == pgs["num_pgs"]:
                    return
                last = f"{osdmap['num_up_osds']} OSDs up, {clean} of {pgs['num_pgs']} PGs active+clean"
            except (CephLabError, ValueError, KeyError, subprocess.SubprocessError) as exc:
                last = str(exc)
            time.sleep(0.5)
        raise CephLabError(f"Ceph was not healthy within {timeout:g}s: {last}")
