"""How big anything an operator sends may be, checked before it reaches ZooKeeper.

ZooKeeper refuses a request larger than its packet limit (``jute.maxbuffer``, 1 MiB by default) by dropping
the client's connection: every request in flight on that connection fails with it, and a VM summary bucket
(``/domain_summaries/NN``, shared by every VM whose UUID falls in it) that grew past the limit could never be
written again, breaking writes for all of those VMs. So every field has a limit, and every write that
carries a bucket stays far below the packet limit even with the largest domain XML beside it in the same
transaction:

    bucket (600 KiB) + domain XML (256 KiB) + the VM's record (16 KiB) + index entries  <  1 MiB

The client library (what ``pvc`` over ZooKeeper and ``pvcapid`` both call) checks these, so the CLI and
the API refuse the same things with the same one line naming the field; ``pvcapid`` also refuses a request
body over :data:`MAX_BODY_BYTES` before reading it (413).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sized

from pvc_core.errors import InvalidRequest

KIB = 1024
MAX_BODY_BYTES = 1024 * KIB  # an API request body
MAX_XML_BYTES = 256 * KIB  # a VM's domain XML (a large real one is about 10 KiB)
MAX_RECORD_BYTES = 16 * KIB  # a VM's record, encoded
MAX_BUCKET_BYTES = 600 * KIB  # a VM summary bucket, encoded
MAX_TAGS = 32
MAX_TAG_LENGTH = 64
MAX_NODE_LIMIT = 64  # node names in a VM's node limit
MAX_ATTACHMENTS = 32  # volumes, or network interfaces, of one VM
MAX_REASON_LENGTH = 1000  # a failure reason is cut here (it is the hypervisor's words, not refused)
MAX_NETWORK_BYTES = 256 * KIB  # a client network with its reservations and ACLs, encoded
TAG = re.compile(r"^[A-Za-z0-9_.:@+=/-]+$")


def check_bytes(size: int, limit: int, field: str, what: str) -> None:
    """Refuse ``size`` bytes of ``what`` over ``limit``, naming ``field``."""
    if size > limit:
        raise InvalidRequest(f"{field}: {what} is {size} bytes; at most {limit}", field)


def check_count(items: Sized, limit: int, field: str, what: str) -> None:
    if len(items) > limit:
        raise InvalidRequest(f"{field}: {len(items)} {what}; at most {limit}", field)


def check_xml(xml: str, field: str = "xml") -> None:
    check_bytes(len(xml.encode()), MAX_XML_BYTES, field, "the domain XML")


def check_tags(tags: Iterable[str], field: str = "tags") -> tuple[str, ...]:
    """The tags, without duplicates, once each is 1..64 of letters, digits and ``_.:@+=/-`` and there are at
    most 32."""
    found = tuple(dict.fromkeys(tags))
    for index, tag in enumerate(found):
        where = f"{field}[{index}]"
        if not isinstance(tag, str) or not tag:
            raise InvalidRequest(f"{where}: a tag is a non-empty string", where)
        if len(tag) > MAX_TAG_LENGTH:
            raise InvalidRequest(f"{where}: a tag is at most {MAX_TAG_LENGTH} characters (got {len(tag)})", where)
        if not TAG.match(tag):
            raise InvalidRequest(f"{where}: '{tag}' has characters a tag may not ('_.:@+=/-', letters, digits)", where)
    check_count(found, MAX_TAGS, field, "tags")
    return found


def cut_reason(reason: str) -> str:
    """A failure reason no longer than :data:`MAX_REASON_LENGTH` characters."""
    return reason if len(reason) <= MAX_REASON_LENGTH else reason[: MAX_REASON_LENGTH - 1] + "…"
