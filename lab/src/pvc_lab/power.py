"""A lab node's chassis-control program, run by its BMC (ipmi_sim) as ``... get power`` or
``... set power 0|1``. Power off kills every process in the node's network namespace (pvcd, libvirtd, the
QEMU guests, its Ceph monitor, manager and OSD, FRR, dnsmasq, PowerDNS) and takes its link down; power on brings the
link up and starts its Ceph monitor and manager, FRR, PowerDNS, libvirtd and pvcd again (pvcd starts its OSD and
configures BGP).

    python -m pvc_lab.power STATE_DIR NODE get power
    python -m pvc_lab.power STATE_DIR NODE set power 0
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from pvc_lab import netns
from pvc_lab.lab import Lab, LabSettings


def lab_from(state_dir: Path) -> Lab:
    saved = json.loads((state_dir / "lab.json").read_text())["settings"]
    settings = LabSettings(**{**saved, "state_dir": Path(saved["state_dir"])})
    return Lab(settings)


def power_file(lab: Lab, node: str) -> Path:
    return lab.node_dir(node) / "power"


def is_on(lab: Lab, node: str) -> bool:
    path = power_file(lab, node)
    return not path.exists() or path.read_text().strip() != "0"


def power_off(lab: Lab, node: str) -> None:
    power_file(lab, node).write_text("0\n")
    namespace = lab.settings.netns_of(node)
    netns.ip("link", "set", "eth0", "down", netns=namespace, check=False)
    netns.kill_all(namespace)


def power_on(lab: Lab, node: str) -> None:
    if is_on(lab, node):
        return
    power_file(lab, node).write_text("1\n")
    namespace = lab.settings.netns_of(node)
    netns.ip("link", "set", "eth0", "up", netns=namespace, check=False)
    if lab.settings.ceph:
        lab.ceph.start_node(node, namespace)  # its OSD is pvcd's: made anew and started when pvcd starts
    lab.start_frr(node)  # empty: the node's pvcd configures BGP again
    lab.start_powerdns(node)  # its zones are as the power cut left them: the next primary's sync repairs them
    if lab.settings.libvirt:
        lab.libvirtd(node).start()
    lab.start_node(node)


def main(argv: list[str]) -> int:
    state_dir, node, verb, *rest = argv
    lab = lab_from(Path(state_dir))
    if verb == "get":
        for what in rest:
            if what == "power":
                print(f"power:{1 if is_on(lab, node) else 0}")
        return 0
    if verb == "set":
        pairs = dict(zip(rest[::2], rest[1::2], strict=False))
        if pairs.get("power") == "0":
            power_off(lab, node)
        elif pairs.get("power") == "1":
            power_on(lab, node)
        elif pairs.get("reset") == "1":
            power_off(lab, node)
            power_on(lab, node)
        return 0
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
