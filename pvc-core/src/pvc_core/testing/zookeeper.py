"""ZooKeeper servers from Debian's package, started with java directly (zkServer.sh ignores its config).

One class serves a standalone server (``size=1``) and an ensemble (``size=3`` or 5): the ``zookeeper``
fixture, tests that need an ensemble of their own, the benchmarks and the lab all use it. Servers listen
on ``client_address`` (loopback for tests; the lab's bridge address for the lab) with quorum traffic on
127.0.0.1. Short ticks let tests use short sessions; ``admin.enableServer=false`` keeps :8080 free.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from pvc_core.errors import PvcError
from pvc_core.testing.processes import owned_pid, spawn, terminate
from pvc_core.testing.tls import TlsMaterial

CLASSPATH = ":".join(
    [
        "/usr/share/java/zookeeper.jar",
        "/usr/share/java/zookeeper-jute.jar",
        "/usr/share/java/slf4j-api.jar",
        "/usr/share/java/slf4j-log4j12.jar",
        "/usr/share/java/log4j-1.2.jar",
    ]
)
# the Netty connection factory (which alone serves TLS) needs these beside what zookeeper.jar's manifest names
NETTY = ["/usr/share/java/netty-codec.jar", "/usr/share/java/netty-resolver.jar"]
SECURE_PORT_OFFSET = 300  # a member's secure client port: its client port + this
JAVA_FLAGS = ["-Xmx96m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Dzookeeper.admin.enableServer=false"]


class ZooKeeperServerError(PvcError):
    """A ZooKeeper server (a test's or the lab's) is not installed or did not start."""


@dataclass
class Member:
    myid: int
    client_port: int
    quorum_port: int
    election_port: int
    directory: Path

    @property
    def pidfile(self) -> Path:
        return self.directory / "zookeeper.pid"

    @property
    def config(self) -> Path:
        return self.directory / "zoo.cfg"


class ZooKeeper:
    """ZooKeeper servers of our own in ``directory``: client ports from ``base_port`` (one per member), stopped
    by PID."""

    def __init__(
        self,
        directory: Path,
        size: int = 1,
        client_address: str = "127.0.0.1",
        base_port: int = 21810,
        tick_time: int = 500,
        tls: TlsMaterial | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.tls = tls  # also serve TLS on each member's secure client port
        self._spawned: dict[int, subprocess.Popen[bytes]] = {}  # the members this object started, by myid
        self.size = size
        self.client_address = client_address
        self.tick_time = tick_time
        self.members = [
            Member(
                myid=i + 1,
                client_port=base_port + i,
                quorum_port=base_port + 100 + i,
                election_port=base_port + 200 + i,
                directory=self.directory / f"zk{i + 1}",
            )
            for i in range(size)
        ]

    @property
    def hosts(self) -> str:
        return ",".join(f"{self.client_address}:{m.client_port}" for m in self.members)

    @property
    def secure_hosts(self) -> str:
        """The members' secure client ports (TLS), when ``tls`` was given."""
        return ",".join(f"{self.client_address}:{m.client_port + SECURE_PORT_OFFSET}" for m in self.members)

    def write_config(self) -> None:
        for member in self.members:
            (member.directory / "data").mkdir(parents=True, exist_ok=True)
            lines = [
                f"tickTime={self.tick_time}",
                "initLimit=10",
                "syncLimit=5",
                f"minSessionTimeout={2 * self.tick_time}",
                f"maxSessionTimeout={60 * self.tick_time}",
                f"dataDir={member.directory / 'data'}",
                f"clientPort={member.client_port}",
                f"clientPortAddress={self.client_address}",
                "admin.enableServer=false",
                "4lw.commands.whitelist=*",
                "maxClientCnxns=0",
                "autopurge.purgeInterval=1",
            ]
            if self.tls is not None:
                lines += [
                    f"secureClientPort={member.client_port + SECURE_PORT_OFFSET}",
                    f"secureClientPortAddress={self.client_address}",
                    "serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory",
                    f"ssl.keyStore.location={self.tls.server_pem}",
                    "ssl.keyStore.type=PEM",
                    f"ssl.trustStore.location={self.tls.ca_file}",
                    "ssl.trustStore.type=PEM",
                    "ssl.clientAuth=none",
                ]
            if self.size > 1:
                (member.directory / "data" / "myid").write_text(f"{member.myid}\n")
                lines += [f"server.{m.myid}=127.0.0.1:{m.quorum_port}:{m.election_port}" for m in self.members]
            member.config.write_text("\n".join(lines) + "\n")
            (member.directory / "log4j.properties").write_text(
                "log4j.rootLogger=WARN, FILE\n"
                "log4j.appender.FILE=org.apache.log4j.FileAppender\n"
                f"log4j.appender.FILE.File={member.directory / 'zookeeper.log'}\n"
                "log4j.appender.FILE.layout=org.apache.log4j.PatternLayout\n"
                "log4j.appender.FILE.layout.ConversionPattern=%d{ISO8601} %-5p %c{1}: %m%n\n"
            )

    def start(self, which: list[int] | None = None, wait: bool = True, timeout: float = 30.0) -> None:
        """Start members (all by default); wait until each serves requests."""
        missing = [jar for jar in CLASSPATH.split(":") if not Path(jar).exists()]
        if shutil.which("java") is None:
            missing.append("java")
        if missing:
            raise ZooKeeperServerError(
                f"ZooKeeper is not installed ({missing[0]} is missing); install Debian's zookeeper package and a JRE"
            )
        if not self.members[0].config.exists():
            self.write_config()
        main_class = (
            "org.apache.zookeeper.server.quorum.QuorumPeerMain"
            if self.size > 1
            else "org.apache.zookeeper.server.ZooKeeperServerMain"
        )
        chosen = [m for m in self.members if which is None or m.myid in which]
        for member in chosen:
            if self.pid(member) is not None:
                continue
            self._spawned[member.myid] = spawn(
                [
                    "java",
                    *JAVA_FLAGS,
                    f"-Dlog4j.configuration=file:{member.directory / 'log4j.properties'}",
                    "-cp",
                    f"{CLASSPATH}:{':'.join(NETTY) + ':' if self.tls is not None else ''}{member.directory}",
                    main_class,
                    str(member.config),
                ],
                member.directory / "stdout.log",
                member.pidfile,
            )
        if wait:
            self.wait_ready(chosen, timeout)

    def pid(self, member: Member) -> int | None:
        """The member's PID if that process is still ours and alive."""
        return owned_pid(member.pidfile, str(member.config))

    def _exited(self, member: Member) -> bool:
        """Whether the member's process has ended. The process this object started is asked directly: just
        after the fork its command line is not yet java's, so the PID file's owner check would say gone."""
        process = self._spawned.get(member.myid)
        if process is not None:
            return process.poll() is not None
        return self.pid(member) is None

    def wait_ready(self, members: list[Member] | None = None, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        for member in members if members is not None else self.members:
            while not self.serving(member):
                if self._exited(member):
                    tail = ""
                    with contextlib.suppress(OSError):
                        tail = (member.directory / "zookeeper.log").read_text(errors="replace")[-600:]
                    raise ZooKeeperServerError(
                        f"ZooKeeper {member.myid} exited; see {member.directory / 'zookeeper.log'}: {tail!r}"
                    )
                if time.monotonic() > deadline:
                    raise ZooKeeperServerError(f"ZooKeeper {member.myid} not serving after {timeout:g}s")
                time.sleep(0.05)

    def four_letter(self, member: Member, word: str, timeout: float = 1.0) -> str:
        try:
            with socket.create_connection((self.client_address, member.client_port), timeout=timeout) as conn:
                conn.sendall(word.encode())
                chunks = []
                while chunk := conn.recv(4096):
                    chunks.append(chunk)
                return b"".join(chunks).decode(errors="replace")
        except OSError:
            return ""

    def serving(self, member: Member) -> bool:
        answer = self.four_letter(member, "srvr")
        return "Mode: standalone" in answer or "Mode: leader" in answer or "Mode: follower" in answer

    def leader(self) -> Member | None:
        for member in self.members:
            if "Mode: leader" in self.four_letter(member, "srvr"):
                return member
        return None

    def stop(self, which: list[int] | None = None, kill: bool = False) -> None:
        """Stop members (all by default): SIGTERM, or SIGKILL to simulate a crash."""
        for member in self.members:
            if which is not None and member.myid not in which:
                continue
            pid = self.pid(member)
            if pid is not None:
                terminate(pid, timeout=0 if kill else 5.0, sig=9 if kill else 15)
            member.pidfile.unlink(missing_ok=True)
            self._spawned.pop(member.myid, None)

    def pause(self, which: list[int]) -> None:
        for member in self.members:
            pid = self.pid(member)
            if member.myid in which and pid is not None:
                os.kill(pid, 19)  # SIGSTOP

    def resume(self, which: list[int]) -> None:
        for member in self.members:
            pid = self.pid(member)
            if member.myid in which and pid is not None:
                os.kill(pid, 18)  # SIGCONT
