"""One libvirtd per lab node, as on a real node: in the node's network namespace, in a private mount
namespace with its own /etc/libvirt, /run/libvirt, /var/lib/libvirt, /var/cache/libvirt and /var/log/libvirt,
its own host UUID, listening for peer-to-peer migration on the node's lab address.

Its UNIX socket lives outside those mounts (``STATE/NODE/libvirt/sock``), so the node's pvcd (and an
operator with virsh) reach it from anywhere: ``qemu:///system?socket=...``.
"""

from __future__ import annotations

import os
import socket
import uuid as uuidlib
from pathlib import Path

from pvc_lab.errors import LabError
from pvc_lab.processes import owned_pid, spawn, terminate, wait_started

MOUNTED = {
    "etc": "/etc/libvirt",
    "run": "/run/libvirt",
    "lib": "/var/lib/libvirt",
    "cache": "/var/cache/libvirt",
    "log": "/var/log/libvirt",
}
TCP_PORT = 16509


class LibvirtdError(LabError):
    """A node's libvirtd did not start."""


class Libvirtd:
    def __init__(self, directory: Path, netns: str, address: str, index: int, identities: Path) -> None:
        self.directory = directory / "libvirt"
        self.netns = netns
        self.address = address
        self.index = index
        self.identities = identities  # passwd/group copies that know the libvirt-qemu user

    @property
    def socket_dir(self) -> Path:
        return self.directory / "sock"

    @property
    def uri(self) -> str:
        """How this node's pvcd reaches its libvirtd."""
        return f"qemu:///system?socket={self.socket_dir / 'libvirt-sock'}"

    @property
    def migration_uri(self) -> str:
        """How the other nodes' libvirtd reach this one (peer-to-peer migration)."""
        return f"qemu+tcp://{self.address}/system"

    @property
    def pidfile(self) -> Path:
        return self.directory / "libvirtd.pid"

    def pid(self) -> int | None:
        return owned_pid(self.pidfile, str(self.directory / "libvirtd.conf"))

    def write_config(self) -> None:
        for name in (*MOUNTED, "sock"):
            (self.directory / name).mkdir(parents=True, exist_ok=True)
        host_uuid = self.directory / "host_uuid"
        if not host_uuid.exists():  # must differ per node, or libvirt refuses to migrate "to the same host"
            host_uuid.write_text(str(uuidlib.uuid4()))
        (self.directory / "libvirtd.conf").write_text(
            "listen_tls = 0\n"
            "listen_tcp = 1\n"
            f'listen_addr = "{self.address}"\n'
            f'tcp_port = "{TCP_PORT}"\n'
            'auth_tcp = "none"\n'
            'auth_unix_rw = "none"\n'
            'unix_sock_group = "root"\n'
            f'unix_sock_dir = "{self.socket_dir}"\n'
            f'host_uuid = "{host_uuid.read_text().strip()}"\n'
            f'log_outputs = "3:file:{self.directory / "libvirtd.log"}"\n'
        )
        port = 49152 + self.index * 64
        (self.directory / "etc" / "qemu.conf").write_text(
            'user = "root"\n'
            'group = "root"\n'
            "dynamic_ownership = 0\n"
            'security_driver = "none"\n'
            'stdio_handler = "file"\n'
            "namespaces = [ ]\n"
            "cgroup_controllers = [ ]\n"
            f'migration_address = "{self.address}"\n'
            f'migration_host = "{self.address}"\n'
            f"migration_port_min = {port}\n"
            f"migration_port_max = {port + 63}\n"
        )

    def start(self, timeout: float = 30.0) -> int:
        pid = self.pid()
        if pid is not None:
            return pid
        self.write_config()
        mounts = " && ".join(
            f"mkdir -p {target} && mount --bind {self.directory / name} {target}" for name, target in MOUNTED.items()
        )
        identity = (
            f"mount --bind {self.identities / 'passwd'} /etc/passwd && "
            f"mount --bind {self.identities / 'group'} /etc/group"
        )
        script = (
            f"{mounts} && {identity} && exec /usr/sbin/libvirtd --listen "
            f"--config {self.directory / 'libvirtd.conf'} --pid-file {self.directory / 'libvirtd.daemon.pid'}"
        )
        process = spawn(
            ["ip", "netns", "exec", self.netns, "unshare", "--mount", "--propagation", "private", "sh", "-c", script],
            self.directory / "stdout.log",
            self.pidfile,
        )
        sock = self.socket_dir / "libvirt-sock"
        wait_started(
            process,
            lambda: _accepts(sock),
            timeout,
            LibvirtdError(f"libvirtd for {self.netns} exited; see {self.directory / 'libvirtd.log'}"),
            LibvirtdError(f"libvirtd for {self.netns} not ready after {timeout:g}s"),
            interval=0.05,
        )
        return process.pid

    def stop(self) -> None:
        pid = self.pid()
        if pid is not None:
            terminate(pid, timeout=10.0)


def _accepts(path: Path) -> bool:
    if not path.exists():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(0.5)
        try:
            probe.connect(str(path))
        except OSError:
            return False
    return True


def write_identities(directory: Path) -> Path:
    """passwd/group copies with the libvirt-qemu user and group that Debian's libvirtd looks up at start."""
    directory.mkdir(parents=True, exist_ok=True)
    passwd = Path("/etc/passwd").read_text()
    group = Path("/etc/group").read_text()
    if "\nlibvirt-qemu:" not in "\n" + passwd:
        passwd += "libvirt-qemu:x:64055:64055:Libvirt Qemu,,,:/var/lib/libvirt:/usr/sbin/nologin\n"
    if "\nlibvirt-qemu:" not in "\n" + group:
        group += "libvirt-qemu:x:64055:\n"
    if "\nkvm:" not in "\n" + group:
        group += "kvm:x:64056:\n"
    (directory / "passwd").write_text(passwd)
    (directory / "group").write_text(group)
    os.chmod(directory / "passwd", 0o644)
    return directory
