"""schemathesis over the served OpenAPI document, against a real pvcapid on a real ZooKeeper with two
compute nodes and a few VMs: no 5xx, and every status code, content type and body matches the document.
pvcapid loads the template plugin, so a plugin's routes are in the document and held to it too.
Bounded: a fixed seed, one worker, a 60 s budget for the whole run (the coverage phase, then fuzzing repeated
until the budget is spent); the full output is kept in the test's tmp_path as schemathesis.txt."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import KEY, Api, start_api, stop_api
from support import domain_xml

from pvc_core.client import Cluster

SCHEMATHESIS = str(Path(sys.executable).with_name("st"))
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


@pytest.fixture
def api(tmp_path: Path, zk_hosts: str) -> Iterator[Api]:
    process, port = start_api(tmp_path, zk_hosts, plugins=["template"])
    yield Api(f"http://127.0.0.1:{port}/api/v1")
    stop_api(process)


def test_every_operation_answers_as_the_served_document_says(api: Api, running: Cluster, tmp_path: Path) -> None:
    for name in ("alpha", "beta"):
        running.vms.define(domain_xml(name), tags=("web",))
    running.plugin_data("template").set("status", {"ok": True})
    assert "/api/v1/plugins/template/hello" in api.call("GET", "/openapi.json")[1]["paths"]
    result = subprocess.run(
        [
            SCHEMATHESIS,
            "--config-file",
            str(Path(__file__).with_name("schemathesis.toml")),
            "run",
            f"{api.url}/openapi.json",
            "--header",
            f"X-Api-Key: {KEY}",
            "--checks",
            CHECKS,
            "--max-examples",
            "8",
            "--workers",
            "1",
            "--seed",
            "7370",
            "--generation-database",
            "none",
            "--request-timeout",
            "30",
            "--max-time",
            "60",
            "--phases",
            "examples,coverage,fuzzing",
            "--no-color",
            "--report-dir",
            str(tmp_path / "report"),
        ],
        capture_output=True,
        text=True,
        timeout=400,
    )
    (tmp_path / "schemathesis.txt").write_text(result.stdout + result.stderr)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:] + node_story(tmp_path)


def node_story(directory: Path) -> str:
    """The nodes' election and dispatch lines, to tell a slow API answer from a stuck node."""
    words = ("election", "slow_dispatch", "dispatch_failed", "relinquish", "request_dropped", "fault")
    lines = [
        line
        for log in sorted(directory.glob("hv*.log"))
        for line in log.read_text(errors="replace").splitlines()
        if any(word in line for word in words)
    ]
    return "\nnode logs:\n" + "\n".join(lines[-60:])
