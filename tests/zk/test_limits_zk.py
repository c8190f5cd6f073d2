"""Size limits against a real ZooKeeper, CLI and pvcapid: what used to make ZooKeeper drop the connection
(a 700 KB tag, a 3 MB domain XML) or was read whole (a 50 MB body) is refused in one line naming the field
before anything is sent, and a summary bucket is never pushed past what ZooKeeper accepts."""

from __future__ import annotations

import uuid as uuidlib

import pytest
from api_support import Api
from support import domain_xml, run_pvc

from pvc_core import limits
from pvc_core.client import Cluster
from pvc_core.errors import InvalidRequest
from pvc_core.zk import paths


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
    prefix = "00000000"  # every VM below lands in bucket 00
    tags = [f"{'t' * 60}{i:02d}" for i in range(32)]
    made: list[str] = []
    with pytest.raises(InvalidRequest, match=r"summary bucket would be \d+ bytes; at most 614400"):
        for index in range(400):
            uuid = f"{prefix}-0000-4000-8000-{index:012d}"
            running.vms.define(domain_xml(f"big{index}", uuid=uuid), target="hv1", tags=tags)
            made.append(f"big{index}")
    assert 100 < len(made) < 400
    bucket = running.zk.get(paths.summary_bucket(f"{prefix}-0000-4000-8000-000000000000"))
    assert bucket is not None and len(bucket[0]) <= limits.MAX_BUCKET_BYTES
    running.vms.tag(made[0], remove=tags)  # the bucket's VMs still change...
    running.vms.remove(made[1])
    assert running.vms.get(made[0]).tags == ()
    other = str(uuidlib.UUID(int=(1 << 96)))  # ...and other buckets never noticed
    running.vms.define(domain_xml("elsewhere", uuid=other), target="hv1")
