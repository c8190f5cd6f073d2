"""The lab: a real PVC cluster on one machine.

Layout (defaults)::

    root netns   ZooKeeper x3 on 10.73.0.1:22181-22183 (quorum on 127.0.0.1), veth pvclab0
        |
    pvclab-sw    bridge br0  <- pvclab0-br, hv1-br, hv2-br, hv3-br
        |
    pvclab-hv1   eth0 10.73.0.11/24   libvirtd (own mount namespace, :16509) + QEMU guests, pvcd, PowerDNS
    pvclab-hv2   eth0 10.73.0.12/24   libvirtd + guests, pvcd, PowerDNS
    pvclab-hv3   eth0 10.73.0.13/24   libvirtd + guests, pvcd, PowerDNS
    (the primary also holds the cluster DNS address 10.73.0.53 on its eth0)

    root netns   pvcapid on 127.0.0.1:7370 (its key in STATE/api/key; connection 'lab-api')

Each node's files (config, logs, PIDs, libvirt's directories) are under STATE/NODE/; the guests' serial
consoles are logged to STATE/console/UUID.log.

Each node reaches ZooKeeper only over the lab bridge, as a real node does over its cluster network: taking
a node's link down or killing its processes is a real fault. Everything the lab makes is recorded in
``STATE/lab.json`` and found again by its names (``<prefix>-*`` namespaces, pidfiles under STATE), so
``down`` cleans up after a crash too.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import secrets
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pvc_core.testing.netns import Frr
from pvc_core.testing.powerdns import PowerDnsServer
from pvc_core.testing.tls import TlsMaterial, make_certificates
from pvc_core.testing.zookeeper import ZooKeeper
from pvc_core.zk.security import TlsFiles, credential_path, make_credentials
from pvc_lab import demo_network, guest, netns
from pvc_lab.api import LabApi
from pvc_lab.bmc import Bmc
from pvc_lab.ceph import TOOLS as CEPH_TOOLS
from pvc_lab.ceph import LabCeph
from pvc_lab.errors import LabError
from pvc_lab.libvirt import Libvirtd, write_identities
from pvc_lab.processes import owned_pid, spawn, terminate

if TYPE_CHECKING:
    from pvc_core.client import Cluster

DEFAULT_STATE_DIR = Path("/var/lib/pvc-lab")
BMC_PORT = 9101
UNDERLAY_MTU = 9000  # the lab bridge carries VXLAN: room for a 1500-byte VM frame and its 50 bytes of headers
CLUSTER_ASN = 65500
UPSTREAM_ASN = 65000
DEMO_VNI = 100
DEMO_SUBNET = "10.100.0.0/24"
DEMO_GATEWAY = "10.100.0.1"
DEMO_DOMAIN = "demo.pvc"
CLUSTER_ZONE = "lab.pvc"  # the nodes' names, and ns1 (the cluster DNS address)
DNS_API_PORT = 8081  # each coordinator's PowerDNS API, on its lab address


def demo_mac(index: int) -> str:
    return f"52:54:00:73:00:{index + 1:02x}"


def demo_address(index: int) -> str:
    return f"10.100.0.{11 + index}"


def _ticks(cluster: Any, vm: str) -> tuple[int, int]:
    """The last tick the guest printed on its console, and how many times it booted."""
    lines = list(next(iter(cluster.vms.console(vm, lines=2000))))
    ticks = guest.numbers(lines, guest.TICK)
    return (ticks[-1] if ticks else 0), guest.boots(lines)


def _seconds(lost: float) -> str:
    return "NO ANSWER since" if lost < 0 else f"{lost:.1f} s"


def _resumed_at(cluster: Any, vm: str) -> tuple[int | None, int]:
    """Where the guest's last boot found the counter on its disk (None: no disk, or not booted yet), and how
    many boots found one."""
    found = guest.numbers(list(next(iter(cluster.vms.console(vm, lines=2000)))), guest.DISK_RESUMES)
    return (found[-1] if found else None), len(found)


@dataclass
class LabSettings:
    state_dir: Path = DEFAULT_STATE_DIR
    prefix: str = "pvclab"
    subnet: str = "10.73.0.0/24"
    nodes: int = 3
    zookeeper_port: int = 22181
    connection_name: str = "lab"
    libvirt: bool = True  # a libvirtd per node, and the libvirt compute driver
    vms: int = 2  # demo guests defined and started by up
    api_port: int = 7370  # pvcapid on 127.0.0.1; 0: no API
    ceph: bool = True  # a mon and mgr per node, an OSD per node (run by pvcd), VM disks on RBD
    networks: bool = True  # FRR per node and an upstream router; managed network 100 for the demo VMs
    dns: bool = True  # with networks: a PowerDNS per coordinator, the dns-powerdns plugin, the cluster DNS address
    extra_config: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_env(cls, state_dir: Path | None = None) -> LabSettings:
        """Defaults, overridden by ``PVC_LAB_DIR``, ``PVC_LAB_PREFIX``, ``PVC_LAB_SUBNET``, ``PVC_LAB_ZK_PORT``,
        ``PVC_LAB_API_PORT`` (so that tests, or a second lab, do not collide with an operator's lab)."""
        settings = cls()
        if state_dir is not None:
            settings.state_dir = state_dir
        elif os.environ.get("PVC_LAB_DIR"):
            settings.state_dir = Path(os.environ["PVC_LAB_DIR"])
        settings.prefix = os.environ.get("PVC_LAB_PREFIX") or settings.prefix
        settings.subnet = os.environ.get("PVC_LAB_SUBNET") or settings.subnet
        settings.zookeeper_port = int(os.environ.get("PVC_LAB_ZK_PORT") or settings.zookeeper_port)
        settings.api_port = int(os.environ.get("PVC_LAB_API_PORT") or settings.api_port)
        if os.environ.get("PVC_LAB_VMS"):
            settings.vms = int(os.environ["PVC_LAB_VMS"])
        return settings

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Network(self.subnet)

    @property
    def gateway(self) -> str:
        """The root namespace's address on the lab bridge: ZooKeeper listens here."""
        return str(self.network.network_address + 1)

    @property
    def api_connection(self) -> str:
        return f"{self.connection_name}-api"

    def node_names(self) -> list[str]:
        return [f"hv{i + 1}" for i in range(self.nodes)]

    def node_address(self, index: int) -> str:
        return str(self.network.network_address + 11 + index)

    def netns_of(self, node: str) -> str:
        return f"{self.prefix}-{node}"

    @property
    def switch(self) -> str:
        return f"{self.prefix}-sw"

    @property
    def uplink(self) -> str:
        return f"{self.prefix}0"

    @property
    def upstream(self) -> str:
        """The upstream router's namespace: FRR in AS 65000, on the lab bridge at .254."""
        return f"{self.prefix}-up"

    @property
    def upstream_address(self) -> str:
        return str(self.network.network_address + 254)

    @property
    def dns_address(self) -> str:
        """The cluster DNS address: held by the primary, answered by its PowerDNS."""
        return str(self.network.network_address + 53)

    @property
    def with_dns(self) -> bool:
        return self.networks and self.dns

    @property
    def frr_dir(self) -> Path:
        """FRR runs as user frr: its sockets and files live where it can reach them (not under a 0700
        folder such as a test's temporary directory)."""
        return Path("/run") / f"{self.prefix}-frr"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["state_dir"] = str(self.state_dir)
        return data


class Lab:
    def __init__(self, settings: LabSettings | None = None) -> None:
        self.settings = settings or LabSettings()
        self.state = self.settings.state_dir
        # ZooKeeper serves TLS on its secure client ports, and every PVC process of the lab uses them (the
        # plain ports answer the lab's own health checks); the certificates are made at the first ``up``
        self.tls = TlsMaterial(self.state / "tls" / "ca.pem", self.state / "tls" / "server.pem")
        self.zookeeper = ZooKeeper(
            self.state / "zookeeper",
            size=3,
            client_address=self.settings.gateway,
            base_port=self.settings.zookeeper_port,
            tls=self.tls,
        )

    @property
    def manifest(self) -> Path:
        return self.state / "lab.json"

    @property
    def hosts(self) -> str:
        """The ensemble's secure (TLS) client ports: what every PVC process of the lab connects to."""
        return self.zookeeper.secure_hosts

    @property
    def zookeeper_tls(self) -> TlsFiles:
        return TlsFiles(str(self.tls.ca_file))

    def node_dir(self, node: str) -> Path:
        return self.state / node

    def libvirtd(self, node: str) -> Libvirtd:
        index = self.settings.node_names().index(node)
        return Libvirtd(
            self.node_dir(node),
            self.settings.netns_of(node),
            self.settings.node_address(index),
            index,
            self.state / "identities",
        )

    @property
    def ceph(self) -> LabCeph:
        names = self.settings.node_names()
        return LabCeph(
            self.state, {n: self.settings.node_address(i) for i, n in enumerate(names)}, self.settings.subnet
        )

    def frr(self, node: str) -> Frr:
        return Frr(self.settings.netns_of(node), self.settings.frr_dir / node, node)

    def upstream_frr(self) -> Frr:
        """The upstream router: peers with every coordinator and learns the managed networks' prefixes."""
        return Frr(self.settings.upstream, self.settings.frr_dir / "upstream", "upstream")

    def upstream_config(self) -> str:
        s = self.settings
        peers = [s.node_address(i) for i in range(s.nodes)]
        lines = [f"router bgp {UPSTREAM_ASN}", f" bgp router-id {s.upstream_address}", " no bgp ebgp-requires-policy"]
        for peer in peers:
            lines += [f" neighbor {peer} remote-as {CLUSTER_ASN}", f" neighbor {peer} timers connect 2"]
        lines += [" address-family ipv4 unicast", *(f"  neighbor {p} activate" for p in peers), " exit-address-family"]
        return "\n".join(lines) + "\n"

    def powerdns(self, node: str) -> PowerDnsServer:
        """The node's PowerDNS, as a coordinator runs it: DNS on its lab address and on the cluster DNS address
        (answered while it is primary, when it holds that address), the API on its lab address with the
        lab's key."""
        address = self.settings.node_address(self.settings.node_names().index(node))
        return PowerDnsServer(
            self.node_dir(node) / "powerdns",
            dns_port=53,
            api_port=DNS_API_PORT,
            address=f"{address},{self.settings.dns_address}",
            api_key=self.dns_key(),
            netns=self.settings.netns_of(node),
            api_address=address,
        )

    def dns_key(self, create: bool = False) -> str:
        """The PowerDNS API key, made at the first ``up`` (``create``) and kept in the lab's state ("" before
        that: looking at a lab never writes to it)."""
        path = self.state / "powerdns.key"
        if create and not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_hex(16) + "\n")
            path.chmod(0o600)
        try:
            return path.read_text().strip()
        except OSError:
            return ""

    def start_powerdns(self, node: str) -> None:
        if self.settings.with_dns:
            try:
                self.powerdns(node).start()
            except RuntimeError as exc:
                raise LabError(f"{node}'s PowerDNS: {exc}") from None

    def start_frr(self, node: str) -> None:
        if self.settings.networks:
            self.frr(node).start()

    @property
    def api(self) -> LabApi:
        return LabApi(
            self.state / "api", self.hosts, self.settings.api_port, self.credential_file("node"), self.tls.ca_file
        )

    @property
    def console_dir(self) -> Path:
        return self.state / "console"

    def bmc(self, node: str) -> Bmc:
        """The node's BMC: ipmi_sim on the lab bridge address (reachable from every node), whose
        chassis control cuts the node's power for real."""
        index = self.settings.node_names().index(node)
        control = f"{sys.executable} -m pvc_lab.power {self.state} {node}"
        return Bmc(
            self.node_dir(node) / "bmc", node, self.settings.gateway, BMC_PORT + index, "admin", f"lab-{node}", control
        )

    # -- up -------------------------------------------------------------------------------------------------

    def up(self, progress: Any = print, timeout: float = 60.0) -> None:
        if os.geteuid() != 0:
            raise LabError("the lab needs root (network namespaces); run it with sudo")
        for tool in (
            "ip",
            "java",
            "ipmi_sim",
            "ipmitool",
            *(("libvirtd", "qemu-system-x86_64") if self.settings.libvirt else ()),
            *(CEPH_TOOLS if self.settings.ceph else ()),
            *(("vtysh", "dnsmasq", "nft") if self.settings.networks else ()),
            *(("pdns_server", "sqlite3", "dig") if self.settings.with_dns else ()),
        ):
            if shutil.which(tool) is None and not Path("/usr/sbin", tool).exists():
                raise LabError(f"'{tool}' is not installed; run scripts/setup all")
        started = time.monotonic()
        self.state.mkdir(parents=True, exist_ok=True)
        self.manifest.write_text(json.dumps({"settings": self.settings.to_dict(), "started": time.time()}, indent=2))
        progress(f"network: bridge in {self.settings.switch}, {self.settings.nodes} node namespaces")
        self._network()
        make_certificates(self.tls.ca_file.parent, [self.settings.gateway])
        progress(f"zookeeper: 3-member ensemble on {self.hosts} (TLS; CA {self.tls.ca_file})")
        self.zookeeper.start(timeout=timeout)
        from pvc_core.client import Cluster

        credentials = make_credentials(self.credentials)
        with Cluster.connect(self.hosts, credential=credentials["node"], tls=self.zookeeper_tls) as cluster:
            if cluster.zk.exists("/schema/version") is None:
                cluster.init()
                progress("cluster: initialised")
            if cluster.zk.acls is None:
                cluster.secure(credentials)
                progress(f"cluster: secured (ZooKeeper ACLs; credentials in {self.credentials})")
        for node in self.settings.node_names():
            bmc = self.bmc(node)
            bmc.directory.mkdir(parents=True, exist_ok=True)
            bmc.start()
        progress(f"bmc: an ipmi_sim per node on {self.settings.gateway}:{BMC_PORT}+")
        if self.settings.ceph:
            self.ceph.create()
            self.ceph.start({n: self.settings.netns_of(n) for n in self.settings.node_names()}, timeout)
            progress(f"ceph: a monitor and a manager per node, in quorum ({self.ceph.conffile})")
        if self.settings.libvirt:
            write_identities(self.state / "identities")
            for node in self.settings.node_names():
                self.libvirtd(node).start()
            progress(f"libvirt: a libvirtd per node, migration over {self.settings.subnet}")
        if self.settings.networks:
            for node in self.settings.node_names():
                self.start_frr(node)
            self.upstream_frr().start(extra_config=self.upstream_config())
            progress(
                f"frr: zebra and bgpd per node (AS {CLUSTER_ASN}); upstream router {self.settings.upstream_address} "
                f"(AS {UPSTREAM_ASN})"
            )
        if self.settings.with_dns:
            self.dns_key(create=True)
            for node in self.settings.node_names():
                self.start_powerdns(node)
            progress(
                f"dns: a PowerDNS per coordinator (gsqlite3, API :{DNS_API_PORT}); the primary holds "
                f"{self.settings.dns_address} (zones {CLUSTER_ZONE}, {DEMO_DOMAIN}, their reverse zones)"
            )
        for index, node in enumerate(self.settings.node_names()):
            self.start_node(node, index)
        progress(f"nodes: {', '.join(self.settings.node_names())} starting pvcd")
        with self.connect() as cluster:
            cluster.wait_for_nodes(self.settings.nodes, timeout)
            self._remember_connection()
            added = [self.settings.connection_name]
            if self.settings.api_port and LabApi.installed():
                self.api.start(timeout)
                self._remember_api_connection()
                added.append(self.settings.api_connection)
                progress(f"api: pvcapid on {self.api.url}/api/v1 (key in {self.api.key_file})")
            if self.settings.ceph:
                self._storage(cluster, progress, timeout)
            if self.settings.networks:
                self._demo_network(cluster, progress, timeout)
            if self.settings.libvirt and self.settings.vms:
                self._demo_vms(cluster, progress, timeout)
        progress(f"lab up in {time.monotonic() - started:.1f}s; connections {', '.join(repr(a) for a in added)} added")

    def guest_image(self) -> tuple[Path, Path]:
        """The guest kernel (cached) and the lab's initramfs (built into the state dir)."""
        vmlinuz, modules = guest.kernel()
        initrd = self.state / "guest" / "initrd.gz"
        if not initrd.exists():
            guest.initramfs(initrd, modules)
        return vmlinuz, initrd

    def _storage(self, cluster: Any, progress: Any, timeout: float) -> None:
        """An OSD on every node (run by its pvcd) and the pool the demo VMs' disks live in."""
        osds = {o["node"] for o in cluster.plugin_call("storage-ceph", "osd.list")}
        for node in self.settings.node_names():
            if node not in osds:
                cluster.plugin_call("storage-ceph", "osd.add", {"node": node, "size": "1G"}, timeout=150)
        if "vms" not in {p["name"] for p in cluster.plugin_call("storage-ceph", "pool.list")}:
            cluster.plugin_call(
                "storage-ceph", "pool.add", {"name": "vms", "replicas": 3, "min_replicas": 2, "pgs": 16}
            )
        self.ceph.wait_healthy(self.settings.nodes, timeout * 2)
        deadline = time.monotonic() + timeout  # each node offers the pool at its next look at Ceph
        while not all("vms/*" in v.record.attachments.get("volume", {}) for v in cluster.nodes()):
            if time.monotonic() > deadline:
                raise LabError(f"the nodes did not offer pool vms to VMs within {timeout:g}s")
            time.sleep(0.5)
        progress("storage: an OSD per node (pvc storage osd add), pool vms with 3 copies, all PGs active+clean")

    def _demo_network(self, cluster: Any, progress: Any, timeout: float) -> None:
        """Managed network 100 (EVPN): its gateway on the primary, DHCP with a reservation per demo VM."""
        plugin = "builtin.networks"
        if DEMO_VNI not in {n["vni"] for n in cluster.plugin_call(plugin, "list")}:
            cluster.plugin_call(
                plugin,
                "add",
                {
                    "vni": DEMO_VNI,
                    "type": "managed",
                    "name": "demo",
                    "description": "the lab's demo network",
                    "domain": DEMO_DOMAIN,
                    "ipnet": DEMO_SUBNET,
                    "gateway": DEMO_GATEWAY,
                    "dhcp": True,
                    "dhcp_start": "10.100.0.100",
                    "dhcp_end": "10.100.0.199",
                },
                timeout=timeout,
            )
        reserved = {r["mac"] for r in cluster.plugin_call(plugin, "dhcp.list", {"network": str(DEMO_VNI)})}
        for i in range(self.settings.vms):
            if demo_mac(i) not in reserved:
                cluster.plugin_call(
                    plugin,
                    "dhcp.add",
                    {
                        "network": str(DEMO_VNI),
                        "mac": demo_mac(i),
                        "address": demo_address(i),
                        "hostname": f"demo{i + 1}",
                    },
                )
        progress(
            f"network: managed network {DEMO_VNI} ({DEMO_SUBNET}, VXLAN with EVPN) on every node, gateway "
            f"{DEMO_GATEWAY} and DHCP on the primary"
        )

    def _demo_vms(self, cluster: Any, progress: Any, timeout: float) -> None:
        vmlinuz, initrd = self.guest_image()
        names = self.settings.node_names()
        for i in range(self.settings.vms):
            name = f"demo{i + 1}"
            volumes: list[str] = []
            if self.settings.ceph:
                disk = f"{name}-disk"
                if disk not in {v["name"] for v in cluster.plugin_call("storage-ceph", "volume.list", {"pool": "vms"})}:
                    cluster.plugin_call("storage-ceph", "volume.add", {"pool": "vms", "name": disk, "size": "64M"})
                volumes = [f"vms/{disk}"]
            networks: list[dict[str, str]] = []
            peer = ""
            if self.settings.networks:
                networks = [{"network": str(DEMO_VNI), "mac": demo_mac(i), "model": "virtio"}]
                peer = demo_address((i + 1) % self.settings.vms) if self.settings.vms > 1 else DEMO_GATEWAY
            if name not in {r.name for r in cluster.vms.list()}:
                xml = guest.domain_xml(name, vmlinuz, initrd, peer=peer)
                cluster.vms.define(xml, target=names[i % len(names)], volumes=volumes, networks=networks)
            cluster.vms.start(name)
        for i in range(self.settings.vms):
            record = cluster.vms.wait(f"demo{i + 1}", timeout=timeout)
            progress(f"vm: {record.name} running on {record.node}")

    def _network(self) -> None:
        s = self.settings
        netns.add_netns(s.switch)
        netns.bridge("br0", s.switch)
        netns.ip("link", "set", "br0", "mtu", str(UNDERLAY_MTU), netns=s.switch)
        netns.veth(s.uplink, f"{s.uplink}-br", None, s.switch, mtu=UNDERLAY_MTU)
        netns.attach(f"{s.uplink}-br", "br0", s.switch)
        netns.address(s.uplink, f"{s.gateway}/{s.network.prefixlen}")
        for index, node in enumerate(s.node_names()):
            ns = s.netns_of(node)
            netns.add_netns(ns)
            netns.veth("eth0", f"{node}-br", ns, s.switch, mtu=UNDERLAY_MTU)
            netns.attach(f"{node}-br", "br0", s.switch)
            netns.address("eth0", f"{s.node_address(index)}/{s.network.prefixlen}", netns=ns)
        if s.networks:
            netns.add_netns(s.upstream)
            netns.veth("eth0", "up-br", s.upstream, s.switch, mtu=UNDERLAY_MTU)
            netns.attach("up-br", "br0", s.switch)
            netns.address("eth0", f"{s.upstream_address}/{s.network.prefixlen}", netns=s.upstream)

    def node_config(self, node: str) -> dict[str, Any]:
        config: dict[str, Any] = {
            "node": node,
            "coordinators": self.settings.node_names(),
            "zookeeper": {
                "hosts": self.hosts,
                "credential_file": str(self.credential_file("node")),
                "tls": {"ca_file": str(self.tls.ca_file)},
            },
            "logging": {"format": "json"},
        }
        config["drivers"] = {"fencing": "ipmi"}
        config["fencing_ipmi"] = self.bmc(node).settings()
        if self.settings.ceph:
            config["drivers"]["storage"] = "ceph"
            config["storage_ceph"] = {
                "conffile": str(self.ceph.conffile),
                "keyring": str(self.ceph.keyring),
                "osd_directory": str(self.node_dir(node) / "osds"),
                "osd_address": self.settings.node_address(self.settings.node_names().index(node)),
                "refresh_interval": 5.0,
            }
            config["plugins"] = {"enable": ["storage-ceph"]}
        if self.settings.networks:
            index = self.settings.node_names().index(node)
            config["drivers"]["network"] = ["evpn", "vlan"]
            config["network_vlan"] = {"device": "eth0"}  # this kernel has no 802.1q: bridged networks are refused
            config["network_evpn"] = {
                "vtep_address": self.settings.node_address(index),
                "asn": CLUSTER_ASN,
                "vty_socket": str(self.frr(node).vty_socket),
                "state_dir": str(self.node_dir(node) / "evpn"),
                "upstream": [{"address": self.settings.upstream_address, "asn": UPSTREAM_ASN}],
            }
            config.setdefault("plugins", {}).setdefault("enable", []).append("network-evpn")
        if self.settings.with_dns:
            index = self.settings.node_names().index(node)
            config["drivers"]["dns"] = "powerdns"
            config["dns_powerdns"] = {
                "api_url": self.powerdns(node).api_url,
                "api_key": self.dns_key(),
                "cluster_zone": CLUSTER_ZONE,
                "address": f"{self.settings.dns_address}/{self.settings.network.prefixlen}",
                "device": "eth0",
                "node_address": self.settings.node_address(index),
                "transfer_to": [self.settings.upstream_address],  # the upstream router may AXFR; nobody else
                "check_interval": 10.0,
            }
            config.setdefault("plugins", {}).setdefault("enable", []).append("dns-powerdns")
        if self.settings.libvirt:
            libvirtd = self.libvirtd(node)
            config["drivers"]["compute"] = "libvirt"
            config["compute_libvirt"] = {
                "uri": libvirtd.uri,
                "migration_uri": libvirtd.migration_uri,
                "console_dir": str(self.console_dir),
            }
            config["vms"] = {"shutdown_timeout": 30.0}
        for key, value in self.settings.extra_config.items():
            config[key] = value
        return config

    def start_node(self, node: str, index: int | None = None) -> int:
        """Start the node's pvcd inside its namespace; return its PID."""
        directory = self.node_dir(node)
        directory.mkdir(parents=True, exist_ok=True)
        pid = self.node_pid(node)
        if pid is not None:
            return pid
        config = directory / "pvcd.yaml"
        config.write_text(json.dumps(self.node_config(node), indent=2) + "\n")  # JSON is YAML
        pvcd = str(Path(sys.executable).with_name("pvcd"))
        process = spawn(
            ["ip", "netns", "exec", self.settings.netns_of(node), pvcd, "--config", str(config)],
            directory / "pvcd.log",
            directory / "pvcd.pid",
        )
        return process.pid

    def node_pid(self, node: str) -> int | None:
        return owned_pid(self.node_dir(node) / "pvcd.pid", str(self.node_dir(node) / "pvcd.yaml"))

    @property
    def credentials(self) -> Path:
        """The cluster's ZooKeeper credentials (made at the first ``up``): node, operator, read."""
        return self.state / "credentials"

    def credential_file(self, identity: str) -> Path:
        return credential_path(self.credentials, identity)

    @contextlib.contextmanager
    def connect(self, identity: str = "operator") -> Iterator[Cluster]:
        """A client of the lab's cluster with one of its credentials (``operator`` by default; ``node``
        reads secrets too, ``read`` only reads)."""
        from pvc_core.client import Cluster
        from pvc_core.zk.security import Credential

        credential = Credential.from_file(self.credential_file(identity))
        with Cluster.connect(self.hosts, credential=credential, tls=self.zookeeper_tls) as cluster:
            yield cluster

    def stop_node(self, node: str, kill: bool = False) -> None:
        pid = self.node_pid(node)
        if pid is not None:
            terminate(pid, timeout=0.0 if kill else 15.0, sig=9 if kill else 15)

    def _remember_connection(self) -> None:
        try:
            from pvc_cli import connections
        except ImportError:
            return
        default, _ = connections.stored()
        connections.add(
            self.settings.connection_name,
            self.hosts,
            make_default=default in (None, self.settings.connection_name),
            credential_file=str(self.credential_file("operator")),
            zookeeper_ca=str(self.tls.ca_file),
        )

    def _remember_api_connection(self) -> None:
        try:
            from pvc_cli import connections
        except ImportError:
            return
        connections.add(self.settings.api_connection, api=self.api.url, key_file=str(self.api.key_file))

    def _forget_connections(self) -> None:
        try:
            from pvc_cli import connections

            names = {c.name for c in connections.stored()[1]}
            for name in (self.settings.connection_name, self.settings.api_connection):
                if name in names:
                    connections.remove(name)
        except Exception:  # noqa: BLE001 - the connection store is the user's; never fail the teardown on it
            pass

    # -- demo -----------------------------------------------------------------------------------------------

    def demo(self, progress: Any = print, vm: str = "demo1") -> dict[str, Any]:
        """Show the cluster, then live-migrate a running guest while its serial counter keeps counting."""

        with self.connect() as cluster:
            for view in cluster.nodes():
                role = "primary" if view.is_primary else view.coordinator_state
                progress(f"node {view.name}: {view.daemon_state}, {role}, {view.record.domain_state}")
            for record in cluster.vms.list():
                progress(f"vm {record.name}: {record.state} on {record.node} ({record.observed})")
            if self.settings.api_port and self.api.answers():
                status, listed = self.api.get("/api/v1/cluster"), self.api.get("/api/v1/vm")
                progress(
                    f"api: {self.api.url}/api/v1 says primary {status['primary']}, {len(listed)} VMs "
                    f"(pvc -c {self.settings.api_connection} vm list)"
                )
            record = cluster.vms.get(vm)
            if record.observed != "running":
                raise LabError(f"VM {vm} is not running (pvc lab up starts it)")
            guests = sorted(r.name for r in cluster.vms.list() if r.networks and r.observed == "running")
            if self.settings.networks and guests:
                addresses = demo_network.wait_answering(cluster, guests)
                for name in guests:
                    progress(
                        f"{name}: {addresses.get(name) or 'no address yet'} by DHCP on network {DEMO_VNI}; "
                        f"it pings its peer every {guest.PEER_INTERVAL} s and the gateway {DEMO_GATEWAY} every "
                        f"{guest.GATEWAY_INTERVAL} s"
                    )
                hops = demo_network.upstream_route(self.settings.upstream, DEMO_SUBNET)
                progress(
                    f"upstream router: {DEMO_SUBNET} via {', '.join(hops) or 'nothing yet'} (BGP from the coordinators)"
                )
                if self.settings.with_dns:
                    self.demo_dns(progress, guests)
            deadline = time.monotonic() + 120
            before, boots_before = _ticks(cluster, vm)
            while (before < 3 or boots_before != 1) and time.monotonic() < deadline:  # let it boot and count
                time.sleep(0.5)
                before, boots_before = _ticks(cluster, vm)
            progress(f"{vm}: console says tick {before}")
            # to a node that is not the primary, so the failover below has a VM to recover from it
            others = [n for n in self.settings.node_names() if n != record.node]
            hosting = {r.node for r in cluster.vms.list() if r.name != vm}
            # not the primary (the failover below cuts a secondary with VMs), and apart from the other guests
            # (their pings then cross nodes, and some survive the power cut to show the gateway)
            target = next(
                (n for n in others if n != cluster.primary() and n not in hosting),
                next((n for n in others if n != cluster.primary()), others[0]),
            )
            progress(f"{vm}: live-migrating {record.node} -> {target} ...")
            marks = {name: demo_network.mark(cluster, name) for name in guests}
            cluster.vms.migrate(vm, target)
            migrated = cluster.vms.wait(vm, timeout=120)
            time.sleep(2.5)
            migration_losses = {name: demo_network.lost_since(cluster, name, marks[name]) for name in guests}
            after, boots_after = _ticks(cluster, vm)
            figures = dict(migrated.last_migration)
            progress(
                f"{vm}: now on {migrated.node}; migration took {figures.get('seconds')} s, downtime "
                f"{figures.get('downtime_ms')} ms; counter went on from tick {before} to tick {after}, "
                f"{'no reboot' if boots_after == boots_before else 'REBOOTED'}"
                + ("; its disk stayed on Ceph, nothing was copied" if migrated.volumes else "")
            )
            if guests:
                progress(
                    "pings lost during the migration: "
                    + ", ".join(f"{n} {_seconds(peer)} to its peer" for n, (peer, _gw) in migration_losses.items())
                )
            result = {
                "vm": vm,
                "from": record.node,
                "to": migrated.node,
                "tick_before": before,
                "tick_after": after,
                "rebooted": boots_after != boots_before,
                **figures,
            }
            if guests:
                result["migration_ping_loss_s"] = {n: peer for n, (peer, _gw) in migration_losses.items()}
                result["handover_gateway_loss_s"] = self.demo_handover(cluster, progress, guests)
            result["failover_seconds"] = self.demo_failover(cluster, progress)
            return result

    def demo_handover(self, cluster: Any, progress: Any, guests: list[str]) -> dict[str, float]:
        """Hand the primary role to another coordinator: the gateways move with it; show the gateway pings
        each guest lost and the upstream router's route."""
        primary = cluster.primary()
        hosting = {r.node for r in cluster.vms.list()}
        others = [n for n in self.settings.node_names() if n != primary]
        # to a node without VMs, so that the power cut after this has a secondary with VMs to cut
        target = next((n for n in others if n not in hosting), others[0])
        progress(f"primary: handing over {primary} -> {target}; the network's gateway moves with it ...")
        marks = {name: demo_network.mark(cluster, name) for name in guests}
        cluster.request_primary(target, wait=True, timeout=60)
        time.sleep(3.0)
        losses = {name: demo_network.lost_since(cluster, name, marks[name])[1] for name in guests}
        hops = demo_network.upstream_route(self.settings.upstream, DEMO_SUBNET)
        progress(
            f"primary: now {cluster.primary()}; gateway pings lost: "
            + ", ".join(f"{n} {_seconds(lost)}" for n, lost in losses.items())
            + f"; upstream router still has {DEMO_SUBNET} via {', '.join(hops) or 'NOTHING'}"
        )
        if self.settings.with_dns:
            self.demo_dns(progress, guests)
        return losses

    def demo_dns(self, progress: Any, guests: list[str]) -> dict[str, list[str]]:
        """Ask the cluster DNS address for the guests' names, a reverse name and the primary's name, from
        the upstream router (outside the cluster, as any client would)."""
        server, upstream = self.settings.dns_address, self.settings.upstream
        found = {
            f"{g}.{DEMO_DOMAIN}": demo_network.wait_resolving(upstream, server, f"{g}.{DEMO_DOMAIN}") for g in guests
        }
        reverse = demo_network.resolve(
            upstream, server, f"{demo_address(0).split('.')[-1]}.0.100.10.in-addr.arpa", "PTR"
        )
        progress(
            f"dns: dig @{server} (from the upstream router): "
            + ", ".join(f"{name} -> {', '.join(a) or 'NO ANSWER'}" for name, a in found.items())
            + f"; {demo_address(0)} -> {', '.join(reverse) or 'NO ANSWER'}"
        )
        return found

    def demo_failover(self, cluster: Any, progress: Any, victim: str | None = None) -> float:
        """Cut a node's power through its BMC; show it fenced and its VMs running on the others; bring it
        back. Returns the seconds from the power cut to every one of its VMs running elsewhere."""
        primary = cluster.primary()
        if victim is None:
            candidates = [n for n in self.settings.node_names() if n != primary]
            victim = next((n for n in candidates if cluster.vms.list(node=n)), candidates[0])
        theirs = [r.name for r in cluster.vms.list(node=victim) if r.state == "start"]
        progress(f"{victim}: cutting its power through its BMC (it runs {', '.join(theirs) or 'no VMs'}) ...")
        at_cut = {name: _ticks(cluster, name) for name in theirs}
        survivors = sorted(
            r.name for r in cluster.vms.list() if r.networks and r.node != victim and r.observed == "running"
        )
        marks = {name: demo_network.mark(cluster, name) for name in survivors}
        resumes_at_cut = {name: _resumed_at(cluster, name)[1] for name in theirs}
        cut = time.monotonic()
        self.bmc(victim).power("off")
        while time.monotonic() - cut < 120:
            records = {r.name: r for r in cluster.vms.list()}
            moved = all(
                records[n].node != victim and records[n].observed == "running" and records[n].operation is None
                for n in theirs
            )
            if moved and cluster.node(victim).daemon_state == "fenced":
                break
            time.sleep(0.1)
        seconds = time.monotonic() - cut
        if seconds >= 120:
            raise LabError(
                f"{victim}'s VMs were not running elsewhere 120 s after its power cut; see pvc cluster status"
            )
        placed = ", ".join(f"{n} on {cluster.vms.get(n).node}" for n in theirs) or "nothing to recover"
        progress(f"{victim}: fenced by the primary; {placed}; {seconds:.1f} s from power cut to running elsewhere")
        if survivors:
            losses = {name: demo_network.lost_since(cluster, name, marks[name])[1] for name in survivors}
            hops = demo_network.upstream_route(self.settings.upstream, DEMO_SUBNET)
            progress(
                "gateway pings lost through the power cut: "
                + ", ".join(f"{n} {_seconds(lost)}" for n, lost in losses.items())
                + f"; upstream router has {DEMO_SUBNET} via {', '.join(hops) or 'NOTHING'}"
            )
        for name, (tick, _boots) in at_cut.items():
            if self.settings.ceph:  # the recovered guest boots again and finds its counter on its RBD disk
                deadline = time.monotonic() + 60
                while _resumed_at(cluster, name)[1] <= resumes_at_cut[name] and time.monotonic() < deadline:
                    time.sleep(0.5)
                resumed = _resumed_at(cluster, name)[0]
                progress(
                    f"{name}: its console said tick {tick} at the power cut; booted again on "
                    f"{cluster.vms.get(name).node}, it found {resumed} on its RBD disk and counts on from there"
                )
        self.bmc(victim).power("on")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            view = cluster.node(victim)
            if view.alive and view.daemon_state == "run":
                break
            time.sleep(0.2)
        cluster.ready(victim, wait=True, timeout=120)
        progress(f"{victim}: powered on and made ready (pvc node ready); its old VMs stay where they now run")
        if self.settings.ceph:
            settled = self.wait_storage_settled()
            progress(f"{victim}: its OSD is back (empty: memstore) and Ceph backfilled it in {settled:.1f} s")
        return round(seconds, 2)

    def wait_storage_settled(self, timeout: float = 180.0) -> float:
        """Wait until every node's OSD is up and in and every PG active+clean; the seconds it took. A node
        powered on again brings an empty OSD (memstore): until Ceph has copied its share back, another
        power cut could take the last complete copy of some data away."""
        started = time.monotonic()
        self.ceph.wait_healthy(self.settings.nodes, timeout)
        return time.monotonic() - started

    # -- status ---------------------------------------------------------------------------------------------

    def status(self) -> dict[str, Any]:
        present = set(netns.list_netns())
        members = [
            {
                "member": m.myid,
                "address": f"{self.settings.gateway}:{m.client_port}",
                "pid": self.zookeeper.pid(m),
                "serving": self.zookeeper.serving(m),
            }
            for m in self.zookeeper.members
        ]
        nodes = [
            {
                "node": node,
                "netns": self.settings.netns_of(node),
                "netns_present": self.settings.netns_of(node) in present,
                "pvcd_pid": self.node_pid(node),
                "libvirtd_pid": self.libvirtd(node).pid(),
                "bmc_pid": self.bmc(node).pid(),
                "ceph_mon_pid": self.ceph.pid(node, "mon"),
                "ceph_mgr_pid": self.ceph.pid(node, "mgr"),
                "powerdns_pid": self.powerdns(node).pid,
            }
            for node in self.settings.node_names()
        ]
        return {
            "up": self.manifest.exists(),
            "state_dir": str(self.state),
            "zookeeper": members,
            "nodes": nodes,
            "switch_present": self.settings.switch in present,
            "api": {"url": self.api.url, "pid": self.api.pid(), "answers": self.api.answers()}
            if self.settings.api_port
            else None,
        }

    # -- down -----------------------------------------------------------------------------------------------

    def leftovers(self) -> dict[str, Any]:
        """What of the lab still exists (empty lists and False: nothing)."""
        prefix = f"{self.settings.prefix}-"
        return {
            "netns": [name for name in netns.list_netns() if name.startswith(prefix)],
            "zookeeper_pids": [pid for m in self.zookeeper.members if (pid := self.zookeeper.pid(m)) is not None],
            "pvcd_pids": [pid for node in self.settings.node_names() if (pid := self.node_pid(node)) is not None],
            "bmc_pids": [pid for node in self.settings.node_names() if (pid := self.bmc(node).pid()) is not None],
            "libvirtd_pids": [
                pid for node in self.settings.node_names() if (pid := self.libvirtd(node).pid()) is not None
            ],
            "api_pids": [pid] if (pid := self.api.pid()) is not None else [],
            "powerdns_pids": [
                pid for node in self.settings.node_names() if (pid := self.powerdns(node).pid) is not None
            ],
            "ceph_pids": [
                pid
                for node in self.settings.node_names()
                for kind in ("mon", "mgr")
                if (pid := self.ceph.pid(node, kind)) is not None
            ],
            "uplink": netns.link_exists(self.settings.uplink),
            "state_dir": self.state.exists(),
        }

    def down(self, progress: Any = print) -> None:
        if os.geteuid() != 0:
            raise LabError("removing the lab needs root (network namespaces); run it with sudo")
        self.api.stop()
        for node in self.settings.node_names():
            self.stop_node(node)
        for node in self.settings.node_names():
            self.libvirtd(node).stop()  # its QEMU guests and its OSD go with the namespace below
            self.bmc(node).stop()
            self.ceph.stop_node(node)
            self.powerdns(node).stop()
        prefix = f"{self.settings.prefix}-"
        for name in netns.list_netns():
            if name.startswith(prefix):
                netns.delete_netns(name)  # FRR and dnsmasq go with their namespaces
        shutil.rmtree(self.settings.frr_dir, ignore_errors=True)
        if netns.link_exists(self.settings.uplink):
            netns.ip("link", "del", self.settings.uplink, check=False)
        self.zookeeper.stop()
        self._forget_connections()
        shutil.rmtree(self.state, ignore_errors=True)
        progress("lab down: processes, namespaces and files removed")
