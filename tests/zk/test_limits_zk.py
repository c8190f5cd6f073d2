"""Size limits against a real ZooKeeper, CLI and pvcapid: what used to make ZooKeeper drop the connection
(a 700 KB tag, a 3 MB domain XML) or was read whole (a 50 MB body) is refused in one line naming the field
before anything is sent, and a summary bucket is never pushed past what ZooKeeper accepts."""

from __future__ import annotations

import json
import uuid as uuidlib

import pytest
from api_support import Api
from support import domain_xml, run_pvc

from pvc_core import limits
from pvc_core.client import Cluster
from pvc_core.errors import InvalidRequest
from pvc_core.vms.model import VmRecord
from pvc_core.zk import paths
from pvc_core.zk.session import encode


def big_xml(name: str, size: int) -> str:
    return domain_xml(name).replace("</domain>", f"<description>{'x' * size}</description></domain>")


def test_a_3_mb_domain_xml_is_refused_by_the_library_and_the_cli_and_nothing_is_stored(
    running: Cluster, tmp_path: object
) -> None:
    with pytest.raises(InvalidRequest, match=r"^xml: the domain XML is \d+ bytes; at most 262144$"):
        running.vms.define(big_xml("huge", 3 * 1024 * 1024))
    xml = tmp_path / "huge.xml"  # type: ignore[operator]
    xml.write_text(big_xml("huge", 3 * 1024 * 1024))
    result = run_pvc("-c", running.zk.hosts, "vm", "define", str(xml))
    assert result.returncode != 0 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "xml: the domain XML is" in result.stderr
    assert running.vms.list() == []


def test_a_700_kb_tag_is_refused_and_the_api_keeps_its_connection(api: Api, running: Cluster) -> None:
    running.vms.define(domain_xml("web"), target="hv1")
    status, body, _ = api.call("POST", "/vm/web/tags", {"add": ["x" * 700 * 1024]})
    assert status == 400 and body["field"] == "add[0]", body
    assert body["message"] == "add[0]: a tag is at most 64 characters (got 716800)"
    status, body, _ = api.call("POST", "/vm", {"xml": big_xml("huge", 400 * 1024)})
    assert status == 400 and body["field"] == "xml", body
    status, listed, _ = api.call("GET", "/vm")  # the API's session is fine: nothing was sent
    assert status == 200 and [v["name"] for v in listed] == ["web"]


def test_a_body_over_1_mib_is_refused_with_413_before_it_is_read(api: Api, running: Cluster) -> None:
    payload = b'{"xml": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    status, body, _ = api.call("POST", "/vm", raw=payload)
    assert status == 413, body
    assert body["error"] == "too_large" and body["field"] == "body"
    assert body["message"] == f"the request body is {len(payload)} bytes; at most {limits.MAX_BODY_BYTES}"


def test_a_summary_bucket_is_never_pushed_past_its_limit_and_its_other_vms_still_change(running: Cluster) -> None:
    bucket = paths.summary_bucket("00000000-0000-4000-8000-000000000000")
    running.vms.define(domain_xml("small", uuid="00000000-0000-4000-8000-000000000001"), target="hv1")
    # fill the bucket near its limit with one VM's record written straight into ZooKeeper (as years of VMs
    # would): one write, where defining hundreds of VMs would only take longer to get there
    found = running.zk.get(bucket)
    assert found is not None
    content = json.loads(found[0])
    filler = VmRecord(uuid="00000000-0000-4000-8000-000000000002", name="filler", tags=("",))
    room = limits.MAX_BUCKET_BYTES - len(encode(content | {filler.uuid: filler.to_dict()})) - 300
    filler = filler.with_(tags=("x" * room,))  # 300 bytes left: a tag fits, a whole new VM does not
    running.zk.set(bucket, encode(content | {filler.uuid: filler.to_dict()}))
    with pytest.raises(InvalidRequest, match=r"summary bucket would be \d+ bytes; at most 614400"):
        running.vms.define(domain_xml("big", uuid="00000000-0000-4000-8000-000000000003"), target="hv1")
    assert [r.name for r in running.vms.list()] == ["filler", "small"]  # nothing half-made
    running.vms.tag("small", add=["still-fine"])  # the bucket's other VMs still change (within the limit)...
    assert running.vms.get("small").tags == ("still-fine",)
    other = str(uuidlib.UUID(int=(1 << 96)))  # ...and another bucket never noticed
    running.vms.define(domain_xml("elsewhere", uuid=other), target="hv1")
