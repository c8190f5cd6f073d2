"""What attaches to a VM: parsing and completing volumes and networks, the define-time check against what
nodes offer, placement that refuses nodes lacking an attachment, and assembling the final domain XML."""

from __future__ import annotations

from xml.etree import ElementTree

import pytest

from pvc_core.errors import InvalidRequest
from pvc_core.vms.attachments import check_provided, complete, missing_on, offered, parse_network, parse_volume
from pvc_core.vms.devices import Contribution, DomainDevice, DomainSecret, assemble
from pvc_core.vms.model import VmNetwork, VmRecord, VmVolume
from pvc_core.vms.placement import NodeCapacity, NoPlacement, choose_node

BASE = "<domain type='kvm'><name>web1</name><uuid>6f1e0e36-9f35-4a7e-8d7c-0d5d3b8a4e11</uuid><devices/></domain>"


def vm(volumes: tuple[VmVolume, ...] = (), networks: tuple[VmNetwork, ...] = ()) -> VmRecord:
    return VmRecord(uuid="u1", name="web1", memory_mib=512, volumes=volumes, networks=networks)


def test_a_volume_reads_from_its_short_form_and_from_a_mapping() -> None:
    assert parse_volume("vms/web1-disk0") == VmVolume("vms", "web1-disk0", "virtio", "")
    assert parse_volume("vms/web1-disk1:scsi:sdb") == VmVolume("vms", "web1-disk1", "scsi", "sdb")
    assert parse_volume({"pool": "vms", "volume": "d", "bus": "sata"}) == VmVolume("vms", "d", "sata", "")


@pytest.mark.parametrize(
    ("value", "field", "message"),
    [
        ("novolume", "volumes[2]", "is not pool/volume"),
        ("vms/../etc", "volumes[2].volume", "is not a valid volume name"),
        ("vms/d:floppy", "volumes[2].bus", "unknown bus 'floppy'"),
        ("vms/d:virtio:sda", "volumes[2].target", "does not match bus virtio"),
        ({"pool": "vms", "volume": "d", "size": 1}, "volumes[2]", "unknown key 'size'"),
    ],
)
def test_a_bad_volume_is_refused_naming_its_field(value: object, field: str, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message) as raised:
        parse_volume(value, "volumes[2]")  # type: ignore[arg-type]
    assert raised.value.field == field
    assert str(raised.value).startswith(f"{field}: ")


def test_a_network_reads_by_name_or_vni_with_options() -> None:
    assert parse_network("blue") == VmNetwork("blue", "", "virtio")
    assert parse_network("100,mac=52:54:00:AA:bb:01,model=e1000") == VmNetwork("100", "52:54:00:aa:bb:01", "e1000")
    assert parse_network({"network": 100}) == VmNetwork("100", "", "virtio")
    with pytest.raises(InvalidRequest, match=r"networks\[0\].model: unknown model 'ne2k'"):
        parse_network("blue,model=ne2k")
    with pytest.raises(InvalidRequest, match=r"networks\[0\]: 'blue,mac' is not NETWORK"):
        parse_network("blue,mac")


def test_completing_fills_targets_per_bus_and_macs_and_refuses_doubles() -> None:
    volumes, networks = complete(
        [VmVolume("vms", "a", target="vda"), VmVolume("vms", "b"), VmVolume("vms", "c", bus="scsi")],
        [VmNetwork("blue"), VmNetwork("red", mac="52:54:00:00:00:01")],
    )
    assert [v.target for v in volumes] == ["vda", "vdb", "sda"]
    assert networks[0].mac.startswith("52:54:00:") and networks[1].mac == "52:54:00:00:00:01"
    with pytest.raises(InvalidRequest, match=r"volumes\[1\]: volume vms/a is attached twice"):
        complete([VmVolume("vms", "a"), VmVolume("vms", "a")], [])
    with pytest.raises(InvalidRequest, match=r"networks\[1\].mac: MAC 52:54:00:00:00:01 is used twice"):
        complete([], [VmNetwork("a", "52:54:00:00:00:01"), VmNetwork("b", "52:54:00:00:00:01")])


def test_a_pool_wildcard_offers_every_volume_of_the_pool() -> None:
    offers = {"volume": {"vms/*": "storage-ceph"}, "network": {"100": "network-evpn"}}
    assert offered(offers, "volume", "vms/anything") == "storage-ceph"
    assert offered(offers, "volume", "ssd/anything") is None
    assert offered(offers, "network", "100") == "network-evpn"


def test_a_definition_is_checked_against_what_any_node_offers() -> None:
    record = vm(volumes=(VmVolume("vms", "d", target="vda"),), networks=(VmNetwork("100", "52:54:00:00:00:01"),))
    check_provided(record, [{"volume": {"vms/*": "s"}}, {"network": {"100": "n"}}])  # on different nodes: fine
    with pytest.raises(InvalidRequest, match=r"^networks\[0\]: no enabled plugin provides networks on any node"):
        check_provided(record, [{"volume": {"vms/*": "s"}}])
    with pytest.raises(InvalidRequest, match=r"^volumes\[0\]: no node offers volume 'vms/d' \(offered: ssd/\*\)"):
        check_provided(record, [{"volume": {"ssd/*": "s"}, "network": {"100": "n"}}])


def capacity(name: str, attachments: dict[str, dict[str, str]]) -> NodeCapacity:
    return NodeCapacity(
        name=name,
        ready=True,
        why_not="",
        memory_total_mib=8192,
        memory_free_mib=8192,
        load=0.0,
        attachments=attachments,
    )


def test_placement_takes_only_a_node_offering_every_attachment_and_says_why_not_the_others() -> None:
    record = vm(volumes=(VmVolume("vms", "d", target="vda"),), networks=(VmNetwork("100", "52:54:00:00:00:01"),))
    table = {
        "hv1": capacity("hv1", {"volume": {"vms/*": "s"}}),
        "hv2": capacity("hv2", {"volume": {"vms/*": "s"}, "network": {"100": "n"}}),
    }
    assert missing_on(record, table["hv1"].attachments) == "network 100 not available there"
    assert choose_node(record, table) == "hv2"
    with pytest.raises(NoPlacement, match=r"hv1: network 100 not available there"):
        choose_node(record, table, exclude=["hv2"])


def device(xml: str, kind: str = "", key: str = "", secret: DomainSecret | None = None) -> DomainDevice:
    return DomainDevice(xml=xml, kind=kind, key=key, secret=secret)


def test_devices_join_the_domain_and_their_secrets_are_collected() -> None:
    secret = DomainSecret("8a1c4d1e-0000-4000-8000-000000000001", "ceph", "client.pvc secret", b"key")
    record = vm(volumes=(VmVolume("vms", "d", target="vda"),), networks=(VmNetwork("100", "52:54:00:00:00:01"),))
    xml, secrets = assemble(
        record,
        BASE,
        [
            Contribution("storage", [device("<disk type='network'/>", "volume", "vms/d", secret)]),
            Contribution("network", [device("<interface type='bridge'/>", "network", "100")]),
        ],
        "hv1",
    )
    devices = ElementTree.fromstring(xml).find("devices")
    assert devices is not None and [child.tag for child in devices] == ["disk", "interface"]
    assert secrets == [secret]


def test_an_attachment_served_by_no_plugin_or_by_two_fails_the_start_naming_it() -> None:
    record = vm(networks=(VmNetwork("100", "52:54:00:00:00:01"),))
    with pytest.raises(InvalidRequest, match=r"networks\[0\]: no plugin on hv1 prepared network 100 for VM web1"):
        assemble(record, BASE, [], "hv1")
    twice = [
        Contribution("a", [device("<interface/>", "network", "100")]),
        Contribution("b", [device("<interface/>", "network", "100")]),
    ]
    with pytest.raises(InvalidRequest, match=r"network 100 of VM web1 is served by both 'a' and 'b'"):
        assemble(record, BASE, twice, "hv1")


def test_device_xml_that_is_not_one_element_is_refused_naming_the_plugin() -> None:
    with pytest.raises(InvalidRequest, match=r"plugin 'acme' contributed invalid device XML"):
        assemble(vm(), BASE, [Contribution("acme", [device("<disk><disk/>")])], "hv1")


def test_two_interfaces_on_one_network_are_served_twice_by_one_plugin_and_not_more() -> None:
    record = vm(networks=(VmNetwork("100", "52:54:00:00:00:01"), VmNetwork("100", "52:54:00:00:00:02")))
    two = [Contribution("a", [device("<interface/>", "network", "100"), device("<interface/>", "network", "100")])]
    xml, _ = assemble(record, BASE, two, "hv1")
    assert len(ElementTree.fromstring(xml).findall("devices/interface")) == 2
    with pytest.raises(InvalidRequest, match=r"networks\[\d\]: no plugin on hv1 prepared network 100"):
        assemble(record, BASE, [Contribution("a", [device("<interface/>", "network", "100")])], "hv1")
    three = [Contribution("a", [device("<interface/>", "network", "100")] * 3)]
    with pytest.raises(InvalidRequest, match=r"served more often than the VM names it"):
        assemble(record, BASE, three, "hv1")
