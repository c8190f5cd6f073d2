"""The size limits every field and body gets before ZooKeeper (pvc_core.limits), and why they hold."""

from __future__ import annotations

import pytest

from pvc_core import limits
from pvc_core.errors import InvalidRequest

pytestmark = pytest.mark.unit


def test_the_largest_write_that_carries_a_bucket_stays_under_zookeepers_packet_limit() -> None:
    largest = limits.MAX_BUCKET_BYTES + limits.MAX_XML_BYTES + limits.MAX_RECORD_BYTES + 4 * limits.KIB
    assert largest < 1024 * 1024 - 64 * limits.KIB  # jute.maxbuffer's default, with room for the framing


def test_a_700_kb_tag_is_refused_naming_it() -> None:
    with pytest.raises(InvalidRequest, match=r"tags\[1\]: a tag is at most 64 characters \(got 716800\)") as raised:
        limits.check_tags(["ok", "x" * 700 * 1024])
    assert raised.value.field == "tags[1]"


def test_tags_are_counted_after_duplicates_go_and_checked_for_their_characters() -> None:
    assert limits.check_tags(["a", "b", "a"]) == ("a", "b")
    assert len(limits.check_tags([f"t{i}" for i in range(32)] * 2)) == 32
    with pytest.raises(InvalidRequest, match="tags: 33 tags; at most 32"):
        limits.check_tags([f"t{i}" for i in range(33)])
    with pytest.raises(InvalidRequest, match=r"tags\[0\]: 'two words' has characters a tag may not"):
        limits.check_tags(["two words"])
    with pytest.raises(InvalidRequest, match=r"add\[0\]: a tag is a non-empty string"):
        limits.check_tags([""], "add")


def test_a_3_mb_domain_xml_is_refused_before_it_is_parsed() -> None:
    with pytest.raises(InvalidRequest, match=r"xml: the domain XML is 3145728 bytes; at most 262144") as raised:
        limits.check_xml("x" * 3 * 1024 * 1024)
    assert raised.value.field == "xml"


def test_a_long_failure_reason_is_cut_not_refused() -> None:
    cut = limits.cut_reason("e" * 5000)
    assert len(cut) == limits.MAX_REASON_LENGTH and cut.endswith("…")
    assert limits.cut_reason("short") == "short"
