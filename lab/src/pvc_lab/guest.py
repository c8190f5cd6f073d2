"""The lab's guest: Debian's cloud kernel and a busybox initramfs that counts on its serial console.

Small enough to boot in about two seconds under QEMU's TCG, real enough to prove a live migration: the
counter goes on from where it was, and a reboot would print the boot line again. The guest powers off on
an ACPI power-button press (``pvc vm shutdown``).

The kernel package is fetched once with ``apt-get download`` into a cache (``/var/cache/pvc-lab``) that
``pvc lab down`` keeps, as apt keeps its own (delete the folder to fetch it again).
"""

from __future__ import annotations

import contextlib
import gzip
import shutil
import subprocess
import tempfile
from pathlib import Path

from pvc_lab.errors import LabError
from pvc_lab.processes import run

CACHE = Path("/var/cache/pvc-lab")
BUSYBOX = Path("/bin/busybox")
# loaded in this order (a module's dependencies first): the power button, then virtio and its disk driver
MODULES = (
    "kernel/drivers/input/evdev.ko",
    "kernel/drivers/acpi/button.ko",
    "kernel/drivers/virtio/virtio_ring.ko",
    "kernel/drivers/virtio/virtio.ko",
    "kernel/drivers/virtio/virtio_pci_legacy_dev.ko",
    "kernel/drivers/virtio/virtio_pci_modern_dev.ko",
    "kernel/drivers/virtio/virtio_pci.ko",
    "kernel/drivers/block/virtio_blk.ko",
    "kernel/net/core/failover.ko",
    "kernel/drivers/net/net_failover.ko",
    "kernel/drivers/net/virtio_net.ko",
)

INIT = """#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /tmp
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox mount -t proc proc /proc
/bin/busybox mount -t sysfs sysfs /sys
for module in /modules/*.ko; do /bin/busybox insmod "$module" 2>/dev/null; done
echo "pvc-guest boot" > /dev/ttyS0
/bin/busybox sleep 1
for event in /sys/class/input/event*; do
  if /bin/busybox grep -q "Power Button" "$event/device/name" 2>/dev/null; then
    ( /bin/busybox dd if=/dev/input/${event##*/} bs=24 count=1 >/dev/null 2>&1
      echo "pvc-guest power button: powering off" > /dev/ttyS0
      /bin/busybox poweroff -f ) &
  fi
done
# with a network interface (the lab's VMs are on managed network 100): an address by DHCP, then a ping
# to the gateway every half second and to the peer named on the kernel command line every 0.2 s, each
# answer (or its absence: a gap in seq=) on the console
peer=""
name=""
for word in $(/bin/busybox cat /proc/cmdline); do
  case $word in
    pvc.peer=*) peer=${word#pvc.peer=} ;;
    pvc.name=*) name=${word#pvc.name=} ;;
  esac
done
if [ -e /sys/class/net/eth0 ]; then
  /bin/busybox ip link set lo up
  /bin/busybox ip link set eth0 up
  ( /bin/busybox udhcpc -i eth0 -f -s /udhcpc.script -x hostname:$name -t 60 -T 1 -A 1 >/dev/null 2>&1 ) &
  ( while [ ! -e /tmp/gateway ]; do /bin/busybox sleep 0.1; done
    /bin/busybox ping -i 0.5 $(/bin/busybox cat /tmp/gateway) 2>&1 | while read line; do
      echo "pvc-guest gateway $line" > /dev/ttyS0; done ) &
  if [ -n "$peer" ]; then
    ( while [ ! -e /tmp/gateway ]; do /bin/busybox sleep 0.1; done
      /bin/busybox ping -i 0.2 $peer 2>&1 | while read line; do echo "pvc-guest peer $line" > /dev/ttyS0; done ) &
  fi
fi
tick=0
# with a disk (the lab's VMs have an RBD volume), the counter lives on it too, and a boot goes on from it
disk=/dev/vda
if [ -b $disk ]; then
  saved=$(/bin/busybox dd if=$disk bs=64 count=1 2>/dev/null | /bin/busybox tr -dc '0-9')
  tick=${saved:-0}
  echo "pvc-guest disk resumes at $tick" > /dev/ttyS0
fi
while true; do
  tick=$((tick + 1))
  if [ -b $disk ]; then
    echo "$tick" | /bin/busybox dd of=$disk bs=64 count=1 conv=sync,fsync 2>/dev/null
  fi
  echo "pvc-guest tick $tick" > /dev/ttyS0
  /bin/busybox sleep 1
done
"""


UDHCPC_SCRIPT = """#!/bin/busybox sh
case "$1" in
  bound|renew)
    /bin/busybox ip addr flush dev $interface
    /bin/busybox ip addr add $ip/$mask dev $interface
    gateway=${router%% *}
    [ -n "$gateway" ] && /bin/busybox ip route replace default via $gateway
    echo "pvc-guest dhcp $1 $ip gateway $gateway" > /dev/ttyS0
    echo "$gateway" > /tmp/gateway
    ;;
esac
"""


class GuestError(LabError):
    """The guest's kernel or initramfs could not be made."""


# what the guest prints on its console, each line followed by a number (see INIT)
TICK = "pvc-guest tick "
BOOT = "pvc-guest boot"
DISK_RESUMES = "pvc-guest disk resumes at "
# busybox ping's answers to the peer and to the gateway: "... 64 bytes from 10.100.0.12: seq=17 ttl=64 ..."
PEER_PING = "pvc-guest peer "
GATEWAY_PING = "pvc-guest gateway "
DHCP = "pvc-guest dhcp "
PEER_INTERVAL = 0.2
GATEWAY_INTERVAL = 0.5


def numbers(lines: list[str], prefix: str) -> list[int]:
    """The numbers the guest printed on the console ``lines`` after ``prefix``, in order."""
    return [int(line.rsplit(" ", 1)[1]) for line in lines if line.startswith(prefix)]


def ping_answers(lines: list[str], prefix: str) -> list[int]:
    """The ``seq=`` of every ping answer the guest printed after ``prefix``, in order (a reboot starts again
    from 0; the caller looks at one boot)."""
    found = []
    for line in lines:
        if line.startswith(prefix) and " seq=" in line:
            with contextlib.suppress(ValueError):
                found.append(int(line.split(" seq=", 1)[1].split()[0]))
    return found


def lost_between(answers: list[int], first: int, last: int) -> int:
    """How many pings in seq ``first``..``last`` (inclusive) got no answer."""
    return len(set(range(first, last + 1)) - set(answers))


def leased_address(lines: list[str]) -> str:
    """The address the guest's DHCP client got last ("" none yet)."""
    found = [line.split()[3] for line in lines if line.startswith(DHCP) and len(line.split()) > 3]
    return found[-1] if found else ""


def boots(lines: list[str]) -> int:
    """How many times the guest booted, by its console ``lines``."""
    return sum(1 for line in lines if line.startswith(BOOT))


def kernel_package() -> str:
    """The versioned cloud kernel package that linux-image-cloud-amd64 points at."""
    result = subprocess.run(
        ["apt-cache", "depends", "linux-image-cloud-amd64"], capture_output=True, text=True, timeout=60
    )
    for line in result.stdout.splitlines():
        name = line.strip().removeprefix("Depends:").strip()
        if name.startswith("linux-image-") and name[len("linux-image-") : len("linux-image-") + 1].isdigit():
            return name
    raise GuestError("no linux-image-cloud-amd64 in apt's lists; run 'apt-get update' first")


def kernel(cache: Path = CACHE) -> tuple[Path, Path]:
    """The guest kernel and its module tree, downloaded and unpacked once."""
    unpacked = cache / "kernel"
    found = sorted(unpacked.glob("boot/vmlinuz-*"))
    if not found:
        cache.mkdir(parents=True, exist_ok=True)
        package = kernel_package()
        with tempfile.TemporaryDirectory(dir=cache) as download:
            run(["apt-get", "download", "-q", package], 600, GuestError, cwd=download)
            debs = list(Path(download).glob("*.deb"))
            if not debs:
                raise GuestError(f"apt-get download {package} produced no package")
            staging = cache / "kernel.tmp"
            shutil.rmtree(staging, ignore_errors=True)
            run(["dpkg-deb", "-x", str(debs[0]), str(staging)], 300, GuestError)
            shutil.rmtree(unpacked, ignore_errors=True)
            staging.rename(unpacked)
        found = sorted(unpacked.glob("boot/vmlinuz-*"))
    if not found:
        raise GuestError(f"no kernel in {unpacked}")
    vmlinuz = found[-1]
    modules = unpacked / "lib" / "modules" / vmlinuz.name.removeprefix("vmlinuz-")
    return vmlinuz, modules


def initramfs(target: Path, modules: Path) -> Path:
    """A busybox initramfs whose /init counts on ttyS0 (newc cpio made by busybox itself, gzipped)."""
    if not BUSYBOX.exists():
        raise GuestError("busybox-static is not installed (scripts/setup all installs it)")
    with tempfile.TemporaryDirectory() as staging_dir:
        root = Path(staging_dir)
        for directory in ("bin", "dev", "proc", "sys", "modules", "tmp"):
            (root / directory).mkdir()
        shutil.copy2(BUSYBOX, root / "bin" / "busybox")
        (root / "bin" / "sh").symlink_to("busybox")
        for index, module in enumerate(MODULES):
            source = modules / module
            if source.exists():  # numbered: /init loads them in the order of the glob
                shutil.copy2(source, root / "modules" / f"{index:02d}-{source.name}")
        init = root / "init"
        init.write_text(INIT)
        init.chmod(0o755)
        script = root / "udhcpc.script"
        script.write_text(UDHCPC_SCRIPT)
        script.chmod(0o755)
        names = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
        archive = run(
            [str(BUSYBOX), "cpio", "-o", "-H", "newc"], 60, GuestError, input="\n".join(names).encode(), cwd=root
        ).stdout
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(gzip.compress(archive))
    return target


def domain_xml(
    name: str, vmlinuz: Path, initrd: Path, memory_mib: int = 128, uuid: str | None = None, peer: str = ""
) -> str:
    """The guest's domain; ``peer``: an address it pings on its network (the other demo VM)."""
    uuid_line = f"\n  <uuid>{uuid}</uuid>" if uuid else ""
    extra = f" pvc.name={name}" + (f" pvc.peer={peer}" if peer else "")
    return f"""<domain type='qemu'>
  <name>{name}</name>{uuid_line}
  <memory unit='MiB'>{memory_mib}</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{vmlinuz}</kernel>
    <initrd>{initrd}</initrd>
    <cmdline>console=ttyS0 panic=-1 quiet{extra}</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>destroy</on_crash>
  <devices>
    <emulator>/usr/bin/qemu-system-x86_64</emulator>
    <serial type='pty'><target port='0'/></serial>
    <console type='pty'><target type='serial' port='0'/></console>
  </devices>
</domain>
"""
