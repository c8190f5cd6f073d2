"""Run a command under another Linux kernel: a throwaway QEMU guest booting Debian's generic kernel, with the
host's root filesystem read-only over 9p.

For code that needs what the host kernel lacks (802.1q VLANs on these machines): the guest boots in about
five seconds under TCG, loads the modules asked for (no modprobe: in the order given, each after what it
needs), mounts the host's ``/`` at ``/`` read-only with fresh ``/proc``, ``/sys``, ``/dev`` and a tmpfs
``/run`` (``TMPDIR=/run/tmp``), runs one shell command as root, prints its exit status and powers off.
Its status also leaves through QEMU's ``isa-debug-exit`` device, and a run without the status line is a
failure, so a guest that crashed or hung never passes.

The kernel package is downloaded once (``apt-get download``) and only ``vmlinuz`` and the modules needed
are unpacked, into a cache that is kept between runs.
"""

from __future__ import annotations

import gzip
import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

CACHE = Path("/var/cache/pvc-testing/generic-kernel")
BUSYBOX = Path("/bin/busybox")
STATUS_LINE = "PVC-GUEST-STATUS "
# what a guest needs to see the host's root over 9p: the virtio transport, then 9p itself
BASE_MODULES = (
    "virtio_ring",
    "virtio",
    "virtio_pci_legacy_dev",
    "virtio_pci_modern_dev",
    "virtio_pci",
    "netfs",
    "fscache",
    "9pnet",
    "9pnet_virtio",
    "9p",
)

INIT = """#!/bin/busybox sh
/bin/busybox mkdir -p /proc /sys /dev /newroot
/bin/busybox mount -t devtmpfs devtmpfs /dev
/bin/busybox mount -t proc proc /proc
for module in /modules/*.ko; do /bin/busybox insmod "$module" 2>/dev/null; done
command=""
for word in $(/bin/busybox cat /proc/cmdline); do
  case $word in pvc.command=*) command=${word#pvc.command=} ;; esac
done
/bin/busybox mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000,cache=loose,ro hostroot /newroot
/bin/busybox mount -t proc proc /newroot/proc
/bin/busybox mount -t sysfs sysfs /newroot/sys
/bin/busybox mount -t devtmpfs devtmpfs /newroot/dev
/bin/busybox mount -t tmpfs tmpfs /newroot/run
/bin/busybox mkdir -p /newroot/run/tmp /newroot/run/netns
/bin/busybox chroot /newroot /bin/sh "$command" </dev/console >/dev/console 2>&1
status=$?
echo "PVC-GUEST-STATUS $status" >/dev/console
/bin/busybox printf "\\\\$(/bin/busybox printf %o $status)" \\
  | /bin/busybox dd of=/dev/port bs=1 seek=244 count=1 2>/dev/null
/bin/busybox poweroff -f
"""


class GuestError(RuntimeError):
    """The guest's kernel could not be fetched, or the guest did not run the command to the end."""


@dataclass(frozen=True)
class GuestRun:
    status: int  # the command's exit status in the guest
    output: str  # everything the guest printed on its console


def _run(argv: Sequence[str], timeout: float, **options: object) -> subprocess.CompletedProcess[bytes]:
    try:
        result = subprocess.run(list(argv), capture_output=True, timeout=timeout, check=False, **options)  # type: ignore[call-overload]
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise GuestError(f"'{' '.join(argv)}' failed: {exc}") from exc
    if result.returncode != 0:
        raise GuestError(f"'{' '.join(argv)}' failed: {result.stderr.decode(errors='replace').strip()[-300:]}")
    return result  # type: ignore[no-any-return]


def kernel_package() -> str:
    """The versioned generic kernel package ``linux-image-amd64`` points at."""
    output = _run(["apt-cache", "depends", "linux-image-amd64"], 60).stdout.decode()
    found = re.search(r"Depends: (linux-image-\d\S*)", output)
    if found is None:
        raise GuestError("no linux-image-amd64 in apt's lists; run 'apt-get update' first")
    return found.group(1)


class KernelGuest:
    def __init__(self, modules: Sequence[str] = (), cache: Path = CACHE, memory_mib: int = 1024) -> None:
        self.modules = (*BASE_MODULES, *modules)
        self.cache = cache
        self.memory_mib = memory_mib

    @staticmethod
    def available() -> str:
        """Why the guest cannot run here ("" when it can)."""
        for tool in ("qemu-system-x86_64", "apt-get", "dpkg-deb"):
            if shutil.which(tool) is None:
                return f"{tool} is not installed"
        if not BUSYBOX.exists():
            return "busybox-static is not installed"
        return ""

    def kernel(self) -> tuple[Path, dict[str, Path]]:
        """``vmlinuz`` and the modules asked for (name -> file), unpacked from the package once."""
        unpacked = self.cache / "unpacked"
        if not sorted(unpacked.glob("boot/vmlinuz-*")) or not self._modules(unpacked).keys() >= set(self.modules):
            self.cache.mkdir(parents=True, exist_ok=True)
            package = kernel_package()
            with tempfile.TemporaryDirectory(dir=self.cache) as download:
                _run(["apt-get", "download", "-q", package], 900, cwd=download)
                debs = list(Path(download).glob("*.deb"))
                if not debs:
                    raise GuestError(f"apt-get download {package} produced no package")
                staging = Path(download) / "unpacked"
                staging.mkdir()
                patterns = ["./boot/vmlinuz-*", *(f"*/{name}.ko" for name in self.modules)]
                tar = subprocess.run(
                    f"dpkg-deb --fsys-tarfile {debs[0]} | tar -x -C {staging} --wildcards "
                    + " ".join(f"'{p}'" for p in patterns),
                    shell=True,
                    capture_output=True,
                    timeout=600,
                    check=False,
                )
                if tar.returncode not in (0, 2):  # 2: a pattern found nothing (a built-in module)
                    raise GuestError(f"unpacking {package} failed: {tar.stderr.decode(errors='replace')[-300:]}")
                shutil.rmtree(unpacked, ignore_errors=True)
                staging.rename(unpacked)
        vmlinuz = sorted(unpacked.glob("boot/vmlinuz-*"))
        if not vmlinuz:
            raise GuestError(f"no kernel in {unpacked}")
        return vmlinuz[-1], self._modules(unpacked)

    @staticmethod
    def _modules(unpacked: Path) -> dict[str, Path]:
        return {path.name.removesuffix(".ko"): path for path in unpacked.glob("lib/modules/*/kernel/**/*.ko")}

    def initramfs(self, target: Path, modules: dict[str, Path]) -> Path:
        with tempfile.TemporaryDirectory() as staging_dir:
            root = Path(staging_dir)
            for directory in ("bin", "dev", "proc", "sys", "modules", "newroot"):
                (root / directory).mkdir()
            shutil.copy2(BUSYBOX, root / "bin" / "busybox")
            (root / "bin" / "sh").symlink_to("busybox")
            for index, name in enumerate(self.modules):
                if name in modules:  # not there: built into this kernel
                    shutil.copy2(modules[name], root / "modules" / f"{index:02d}-{name}.ko")
            (root / "init").write_text(INIT)
            (root / "init").chmod(0o755)
            names = sorted(str(p.relative_to(root)) for p in root.rglob("*"))
            archive = _run(
                [str(BUSYBOX), "cpio", "-o", "-H", "newc"], 60, input="\n".join(names).encode(), cwd=root
            ).stdout
        target.write_bytes(gzip.compress(archive))
        return target

    def run(self, script: Path, timeout: float = 300.0) -> GuestRun:
        """Boot, run ``sh SCRIPT`` (a file the guest sees at the same path, read-only), power off."""
        vmlinuz, modules = self.kernel()
        with tempfile.TemporaryDirectory() as work:
            initrd = self.initramfs(Path(work) / "initrd.gz", modules)
            argv = [
                "qemu-system-x86_64",
                "-accel",
                "tcg",
                "-cpu",
                "max",
                "-m",
                str(self.memory_mib),
                "-smp",
                "1",
                "-display",
                "none",
                "-vga",
                "none",
                "-monitor",
                "none",
                "-serial",
                "stdio",
                "-no-reboot",
                "-net",
                "none",
                "-device",
                "isa-debug-exit,iobase=0xf4,iosize=0x04",
                "-kernel",
                str(vmlinuz),
                "-initrd",
                str(initrd),
                "-append",
                f"console=ttyS0 panic=-1 loglevel=4 pvc.command={script}",
                "-virtfs",
                "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
            ]
            try:
                result = subprocess.run(argv, capture_output=True, timeout=timeout, check=False)
            except subprocess.TimeoutExpired as exc:
                output = (exc.stdout or b"").decode(errors="replace")
                raise GuestError(
                    f"the guest did not finish within {timeout:g}s; it printed:\n{output[-3000:]}"
                ) from exc
        output = result.stdout.decode(errors="replace")
        found = re.findall(rf"{STATUS_LINE}(\d+)", output)
        if not found:
            raise GuestError(f"the guest ended without saying how the command ended; it printed:\n{output[-3000:]}")
        return GuestRun(status=int(found[-1]), output=output)
