"""Disk images read as raw extents (qcow2 through its tables, compressed or not) and sizes in operator words."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from pvc_core.errors import InvalidRequest
from pvc_storage_ceph.images import extents, human_size, parse_size, probe

pytestmark = pytest.mark.unit
MIB = 1 << 20


def disk(tmp_path: Path) -> Path:
    """A 4 MiB raw disk with data at a few places and zeroes elsewhere."""
    raw = tmp_path / "disk.raw"
    with raw.open("wb") as handle:
        handle.truncate(4 * MIB)
        for offset, text in ((0, b"boot sector"), (MIB + 4096, b"in the middle"), (4 * MIB - 11, b"at the end!")):
            handle.seek(offset)
            handle.write(text * 1 if offset else os.urandom(70000))
    return raw


def rebuilt(path: Path, size: int) -> bytes:
    content = bytearray(size)
    with path.open("rb") as handle:
        for offset, data in extents(handle, chunk=64 * 1024):
            assert len(data) <= 64 * 1024
            content[offset : offset + len(data)] = data
    return bytes(content)


def test_a_raw_image_reads_as_its_nonzero_extents(tmp_path: Path) -> None:
    raw = disk(tmp_path)
    with raw.open("rb") as handle:
        assert probe(handle).format == "raw" and probe(handle).virtual_size == 4 * MIB
        sent = sum(len(d) for _, d in extents(handle, chunk=64 * 1024))
    assert sent < MIB  # zeroes are not sent
    assert rebuilt(raw, 4 * MIB) == raw.read_bytes()


@pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img (qemu-utils) is not installed")
@pytest.mark.parametrize("options", [[], ["-c"], ["-o", "compat=0.10"]], ids=["qcow2", "compressed", "version2"])
def test_a_qcow2_image_reads_as_the_disk_it_holds(tmp_path: Path, options: list[str]) -> None:
    raw = disk(tmp_path)
    qcow2 = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "convert", "-f", "raw", "-O", "qcow2", *options, str(raw), str(qcow2)], check=True)
    with qcow2.open("rb") as handle:
        image = probe(handle)
    assert (image.format, image.virtual_size) == ("qcow2", 4 * MIB)
    assert rebuilt(qcow2, 4 * MIB) == raw.read_bytes()


@pytest.mark.skipif(shutil.which("qemu-img") is None, reason="qemu-img (qemu-utils) is not installed")
def test_a_qcow2_image_with_a_backing_file_is_refused(tmp_path: Path) -> None:
    base = tmp_path / "base.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(base), "1M"], check=True)
    top = tmp_path / "top.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(base), str(top)], check=True)
    with top.open("rb") as handle, pytest.raises(InvalidRequest, match="has a backing file"):
        probe(handle)


@pytest.mark.parametrize(
    ("given", "size"),
    [("10G", 10 << 30), ("512M", 512 << 20), ("1.5K", 1536), ("4096", 4096), (8, 8), ("2GiB", 2 << 30)],
)
def test_sizes_read_in_binary_units(given: object, size: int) -> None:
    assert parse_size(given) == size


@pytest.mark.parametrize("given", ["", "ten", "-1G", "0", 0, True, "1X"])
def test_a_bad_size_is_refused_naming_the_field(given: object) -> None:
    with pytest.raises(InvalidRequest, match=r"^size: ") as refused:
        parse_size(given)
    assert refused.value.field == "size"


def test_sizes_print_short() -> None:
    assert (human_size(10 << 30), human_size(1536), human_size(12), human_size(None)) == ("10.0G", "1.5K", "12B", "-")
