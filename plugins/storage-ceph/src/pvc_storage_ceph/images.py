"""Sizes in the operator's words, and disk images read as a stream of raw extents (for ``volume upload``).

A qcow2 image is read cluster by cluster through its L1/L2 tables (version 2 and 3, zlib-compressed
clusters, zero clusters; no encryption, no backing file), so an upload sends only the allocated data of
the guest's disk, in order, without converting to a temporary file first. Pure Python: ``pvc`` needs
nothing more on the operator's machine.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from pvc_core.errors import InvalidRequest

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGTP]?)(i?B?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40, "P": 1 << 50}


def parse_size(value: object, field: str = "size") -> int:
    """Bytes from ``10G``, ``512M``, ``1.5T``, ``4096`` (binary units: K is 1024) or an int."""
    if isinstance(value, bool):
        raise InvalidRequest(f"{field}: {value!r} is not a size such as 10G or 512M", field=field)
    if isinstance(value, int):
        size = value
    else:
        match = _SIZE.match(str(value))
        if match is None:
            raise InvalidRequest(f"{field}: {value!r} is not a size such as 10G or 512M", field=field)
        size = int(float(match.group(1)) * _UNITS[match.group(2).upper()])
    if size < 1:
        raise InvalidRequest(f"{field}: a size must be positive, not {value!r}", field=field)
    return size


def human_size(size: int | None) -> str:
    """``10.0G`` for 10 GiB; ``-`` for None."""
    if size is None:
        return "-"
    for unit in ("P", "T", "G", "M", "K"):
        if size >= _UNITS[unit]:
            return f"{size / _UNITS[unit]:.1f}{unit}"
    return f"{size}B"


QCOW2_MAGIC = b"QFI\xfb"
_COPIED = 1 << 63
_COMPRESSED = 1 << 62
_OFFSET_MASK = 0x00FFFFFFFFFFFE00


class ImageError(InvalidRequest):
    """An image file this reader cannot take (a backing file, encryption, a damaged table)."""


@dataclass(frozen=True)
class Image:
    format: str  # raw, qcow2
    virtual_size: int


def probe(handle: BinaryIO) -> Image:
    """The image's format and the size of the disk it holds."""
    handle.seek(0)
    header = handle.read(72)
    if header[:4] != QCOW2_MAGIC:
        handle.seek(0, 2)
        return Image("raw", handle.tell())
    (version,) = struct.unpack(">I", header[4:8])
    backing_offset, _backing_size, _cluster_bits, size, crypt = struct.unpack(">QIIQI", header[8:36])
    if version not in (2, 3):
        raise ImageError(f"qcow2 version {version} is not supported (2 and 3 are)", field="image")
    if backing_offset:
        raise ImageError("the qcow2 image has a backing file: convert it to a standalone image first", field="image")
    if crypt:
        raise ImageError("the qcow2 image is encrypted: decrypt it first", field="image")
    return Image("qcow2", size)


def extents(handle: BinaryIO, chunk: int = 256 * 1024) -> Iterator[tuple[int, bytes]]:
    """``(offset, data)`` of the image's guest-visible content, in order, skipping what reads as zeroes;
    each ``data`` at most ``chunk`` bytes."""
    image = probe(handle)
    if image.format == "raw":
        yield from _raw(handle, chunk)
    else:
        yield from _qcow2(handle, chunk)


def _raw(handle: BinaryIO, chunk: int) -> Iterator[tuple[int, bytes]]:
    handle.seek(0)
    offset = 0
    while data := handle.read(chunk):
        if data.count(0) != len(data):
            yield offset, data
        offset += len(data)


def _qcow2(handle: BinaryIO, chunk: int) -> Iterator[tuple[int, bytes]]:
    handle.seek(0)
    header = handle.read(72)
    cluster_bits, size = struct.unpack(">IQ", header[20:32])
    l1_size, l1_offset = struct.unpack(">IQ", header[36:48])
    cluster = 1 << cluster_bits
    per_l2 = cluster // 8
    handle.seek(l1_offset)
    l1 = struct.unpack(f">{l1_size}Q", handle.read(8 * l1_size))
    for l1_index, l1_entry in enumerate(l1):
        l2_offset = l1_entry & _OFFSET_MASK
        if not l2_offset:
            continue  # a whole L2 table's span is unallocated: zeroes
        handle.seek(l2_offset)
        table = handle.read(cluster)
        if len(table) != cluster:
            raise ImageError(f"the qcow2 image is damaged: its L2 table at {l2_offset} is cut short", field="image")
        for l2_index, entry in enumerate(struct.unpack(f">{per_l2}Q", table)):
            guest = (l1_index * per_l2 + l2_index) * cluster
            if guest >= size:
                return
            data = _cluster(handle, entry, cluster, cluster_bits)
            if data is None or data.count(0) == len(data):
                continue
            data = data[: size - guest]
            for start in range(0, len(data), chunk):
                piece = data[start : start + chunk]
                if piece.count(0) != len(piece):
                    yield guest + start, piece


def _cluster(handle: BinaryIO, entry: int, cluster: int, cluster_bits: int) -> bytes | None:
    if entry & _COMPRESSED:
        offset_bits = 62 - (cluster_bits - 8)
        host = entry & ((1 << offset_bits) - 1)
        sectors = ((entry >> offset_bits) & ((1 << (cluster_bits - 8)) - 1)) + 1
        handle.seek(host)
        raw = handle.read(sectors * 512 - (host & 511))
        return zlib.decompressobj(-12).decompress(raw, cluster)[:cluster]
    if entry & 1:  # the zero flag (version 3)
        return None
    host = entry & _OFFSET_MASK
    if not host:
        return None
    handle.seek(host)
    return handle.read(cluster)
