"""What attaches to a VM (its volumes and networks): checked at define time, matched against what nodes offer.

A VM record names its volumes (``pool/volume``) and networks (a VNI or a name). Plugins that provide them
say, per node, what that node can attach right now (the ``pvc_node_attachments`` hook, published in the
node's record as ``attachments``: kind -> key -> plugin):

* kind ``volume``: a key is ``pool/volume``, or ``pool/*`` for every volume of a pool;
* kind ``network``: a key is a VNI or a network name.

A definition naming something no node offers is refused, naming the field; placement never puts a VM on
a node that does not offer everything it names. Pure functions: no ZooKeeper here.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from typing import Any

from pvc_core.errors import InvalidRequest
from pvc_core.vms.model import (
    DISK_BUSES,
    DISK_TARGET,
    MAC_ADDRESS,
    NETWORK_NAME,
    NIC_MODELS,
    VOLUME_NAME,
    VmNetwork,
    VmRecord,
    VmVolume,
)

VOLUME = "volume"
NETWORK = "network"
KINDS = (VOLUME, NETWORK)

# kind -> key -> the plugin offering it, as a node publishes it
Offers = Mapping[str, Mapping[str, str]]

_TARGET_PREFIX = {"virtio": "vd", "scsi": "sd", "sata": "sd", "ide": "hd"}


def _invalid(field: str, message: str) -> InvalidRequest:
    return InvalidRequest(f"{field}: {message}", field=field)


def parse_volume(value: str | Mapping[str, Any] | VmVolume, field: str = "volumes[0]") -> VmVolume:
    """A volume from ``pool/volume[:bus[:target]]`` or a mapping with the same keys."""
    if isinstance(value, VmVolume):
        value = value.to_dict()
    if isinstance(value, str):
        ref, _, rest = value.partition(":")
        bus, _, target = rest.partition(":")
        pool, slash, volume = ref.partition("/")
        if not slash:
            raise _invalid(field, f"'{value}' is not pool/volume[:bus[:target]]")
        data: dict[str, Any] = {"pool": pool, "volume": volume, "bus": bus or "virtio", "target": target}
    elif isinstance(value, Mapping):
        data = dict(value)
    else:
        raise _invalid(field, f"expected 'pool/volume' or an object, not {type(value).__name__}")
    unknown = set(data) - {"pool", "volume", "bus", "target"}
    if unknown:
        raise _invalid(field, f"unknown key '{sorted(unknown)[0]}' (pool, volume, bus, target)")
    for key in ("pool", "volume"):
        if not isinstance(data.get(key), str) or not VOLUME_NAME.match(data[key]):
            raise _invalid(f"{field}.{key}", f"'{data.get(key)}' is not a valid {key} name")
    bus = data.get("bus") or "virtio"
    if bus not in DISK_BUSES:
        raise _invalid(f"{field}.bus", f"unknown bus '{bus}' (one of {', '.join(DISK_BUSES)})")
    target = data.get("target") or ""
    if target and (not isinstance(target, str) or not DISK_TARGET.match(target)):
        raise _invalid(f"{field}.target", f"'{target}' is not a disk target such as vda or sdb")
    if target and not target.startswith(_TARGET_PREFIX[bus]):
        raise _invalid(f"{field}.target", f"'{target}' does not match bus {bus} ({_TARGET_PREFIX[bus]}...)")
    return VmVolume(pool=data["pool"], volume=data["volume"], bus=bus, target=target)


def parse_network(value: str | Mapping[str, Any] | VmNetwork, field: str = "networks[0]") -> VmNetwork:
    """A network interface from ``NETWORK[,mac=MAC][,model=MODEL]`` (a VNI or a name) or a mapping with
    those keys."""
    if isinstance(value, VmNetwork):
        value = value.to_dict()
    if isinstance(value, str):
        head, _, rest = value.partition(",")
        parts = rest.split(",") if rest else []
        data: dict[str, Any] = {"network": head}
        for part in parts:
            key, eq, item = part.partition("=")
            if not eq:
                raise _invalid(field, f"'{value}' is not NETWORK[,mac=MAC][,model=MODEL]")
            data[key] = item
    elif isinstance(value, Mapping):
        data = dict(value)
    else:
        raise _invalid(field, f"expected a network name or VNI, or an object, not {type(value).__name__}")
    unknown = set(data) - {"network", "mac", "model"}
    if unknown:
        raise _invalid(field, f"unknown key '{sorted(unknown)[0]}' (network, mac, model)")
    given = data.get("network")
    network = str(given) if isinstance(given, int) and not isinstance(given, bool) else given
    if not isinstance(network, str) or not NETWORK_NAME.match(network):
        raise _invalid(f"{field}.network", f"'{given}' is not a network VNI or name")
    raw_mac = data.get("mac") or ""
    mac = raw_mac.lower() if isinstance(raw_mac, str) else ""
    if raw_mac and not MAC_ADDRESS.match(mac):
        raise _invalid(f"{field}.mac", f"'{data.get('mac')}' is not a MAC address such as 52:54:00:12:34:56")
    model = data.get("model") or "virtio"
    if model not in NIC_MODELS:
        raise _invalid(f"{field}.model", f"unknown model '{model}' (one of {', '.join(NIC_MODELS)})")
    return VmNetwork(network=network, mac=mac, model=model)


def _new_mac(taken: set[str]) -> str:
    while True:
        mac = "52:54:00:" + ":".join(f"{b:02x}" for b in secrets.token_bytes(3))
        if mac not in taken:
            return mac


def complete(
    volumes: Iterable[VmVolume], networks: Iterable[VmNetwork]
) -> tuple[tuple[VmVolume, ...], tuple[VmNetwork, ...]]:
    """Give every volume a target and every interface a MAC; refuse the same volume, target or MAC twice."""
    done_volumes: list[VmVolume] = []
    targets: set[str] = set()
    refs: set[str] = set()
    pending = list(volumes)
    for index, volume in enumerate(pending):
        if volume.ref in refs:
            raise _invalid(f"volumes[{index}]", f"volume {volume.ref} is attached twice")
        refs.add(volume.ref)
        if volume.target:
            if volume.target in targets:
                raise _invalid(f"volumes[{index}].target", f"target {volume.target} is used twice")
            targets.add(volume.target)
    for volume in pending:
        if volume.target:
            done_volumes.append(volume)
            continue
        prefix = _TARGET_PREFIX[volume.bus]
        free = (f"{prefix}{chr(c)}" for c in range(ord("a"), ord("z") + 1))
        target = next((t for t in free if t not in targets), "")
        if not target:
            raise _invalid("volumes", f"no free {prefix}* target left for volume {volume.ref}")
        targets.add(target)
        done_volumes.append(VmVolume(pool=volume.pool, volume=volume.volume, bus=volume.bus, target=target))
    done_networks: list[VmNetwork] = []
    macs = {n.mac for n in networks if n.mac}
    seen: set[str] = set()
    for index, network in enumerate(networks):
        if network.mac:
            if network.mac in seen:
                raise _invalid(f"networks[{index}].mac", f"MAC {network.mac} is used twice")
            seen.add(network.mac)
            done_networks.append(network)
        else:
            mac = _new_mac(macs)
            macs.add(mac)
            done_networks.append(VmNetwork(network=network.network, mac=mac, model=network.model))
    return tuple(done_volumes), tuple(done_networks)


def offered(offers: Offers, kind: str, key: str) -> str | None:
    """The plugin offering ``key`` of ``kind`` in ``offers``, or None."""
    by_key = offers.get(kind) or {}
    if key in by_key:
        return by_key[key]
    if kind == VOLUME:
        return by_key.get(key.split("/", 1)[0] + "/*")
    return None


def wanted(vm: VmRecord) -> list[tuple[str, str, str]]:
    """What ``vm`` needs from a node: (field, kind, key) for each volume and network."""
    return [(f"volumes[{i}]", VOLUME, v.ref) for i, v in enumerate(vm.volumes)] + [
        (f"networks[{i}]", NETWORK, n.network) for i, n in enumerate(vm.networks)
    ]


def missing_on(vm: VmRecord, offers: Offers) -> str:
    """Why a node with ``offers`` cannot attach what ``vm`` names ("" when it can)."""
    missing = [f"{kind} {key}" for _field, kind, key in wanted(vm) if offered(offers, kind, key) is None]
    if not missing:
        return ""
    return f"{', '.join(missing)} not available there"


def check_provided(vm: VmRecord, every_node: Iterable[Offers]) -> None:
    """Refuse a VM naming a volume or network that no node offers, naming the field and the reason."""
    merged: dict[str, dict[str, str]] = {kind: {} for kind in KINDS}
    for offers in every_node:
        for kind in KINDS:
            merged[kind].update(offers.get(kind) or {})
    for field, kind, key in wanted(vm):
        if offered(merged, kind, key) is not None:
            continue
        if not merged[kind]:
            raise _invalid(field, f"no enabled plugin provides {kind}s on any node, so {kind} '{key}' cannot be used")
        known = sorted(merged[kind])
        shown = ", ".join(known[:8]) + (", ..." if len(known) > 8 else "")
        raise _invalid(field, f"no node offers {kind} '{key}' (offered: {shown})")
