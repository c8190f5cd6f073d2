"""Domain XML checks that need no hypervisor."""

from __future__ import annotations

import pytest

from pvc_core.errors import InvalidRequest
from pvc_core.vms.xml import parse_domain

GOOD = "<domain type='kvm'><name>web1</name><memory unit='GiB'>2</memory><vcpu>2</vcpu></domain>"


def test_a_good_domain_is_parsed_and_gets_a_uuid() -> None:
    domain = parse_domain(GOOD)
    assert (domain.name, domain.memory_mib, domain.vcpus) == ("web1", 2048, 2)
    assert len(domain.uuid) == 36 and domain.uuid in domain.xml


def test_memory_defaults_to_kib() -> None:
    assert parse_domain(GOOD.replace("<memory unit='GiB'>2</memory>", "<memory>524288</memory>")).memory_mib == 512


def test_a_given_uuid_is_kept() -> None:
    xml = GOOD.replace("<name>web1</name>", "<name>web1</name><uuid>6f1c2e8a-1111-4222-8333-944455556666</uuid>")
    assert parse_domain(xml).uuid == "6f1c2e8a-1111-4222-8333-944455556666"


@pytest.mark.parametrize(
    ("xml", "reason"),
    [
        ("<domain type='kvm'><name>x</name>", "invalid domain XML: no element found"),
        ("<network><name>x</name></network>", "the root element is <network>, not <domain>"),
        ("<domain><name>x</name><memory>1</memory></domain>", "has no type attribute"),
        ("<domain type='kvm'><memory>1024</memory></domain>", "no <name>"),
        ("<domain type='kvm'><name>bad name</name><memory>1024</memory></domain>", "name 'bad name' must be"),
        ("<domain type='kvm'><name>x</name><uuid>nope</uuid><memory>1024</memory></domain>", "'nope' is not a UUID"),
        ("<domain type='kvm'><name>x</name></domain>", "no <memory>"),
        ("<domain type='kvm'><name>x</name><memory unit='parsecs'>1</memory></domain>", "unknown memory unit"),
        ("<domain type='kvm'><name>x</name><memory>1024</memory><vcpu>0</vcpu></domain>", "<vcpu> '0'"),
    ],
)
def test_bad_xml_is_refused_with_the_reason(xml: str, reason: str) -> None:
    with pytest.raises(InvalidRequest) as caught:
        parse_domain(xml)
    assert reason in str(caught.value)
    assert "\n" not in str(caught.value)
