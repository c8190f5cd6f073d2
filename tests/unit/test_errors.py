"""One error taxonomy: each kind of PvcError declares its HTTP status, the ``error`` code of the API's JSON
body and ``pvc``'s exit status; docs/cli.md documents the same table. Each kind is driven here through the
real API application (served on loopback by a stub endpoint that raises it) and the real ``pvc`` over it:
one line, no traceback, the documented exit status. The lab's failures are in the same family."""

from __future__ import annotations

import re
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from support import run_pvc
from werkzeug.serving import make_server

from pvc_api.app import create_app
from pvc_api.keys import KeyRing, hash_key
from pvc_api.openapi import document
from pvc_api.registry import Registry
from pvc_cli.main import main
from pvc_cli.remote import RemoteCluster
from pvc_core.errors import (
    TAXONOMY,
    AlreadyExists,
    Busy,
    Conflict,
    InvalidRequest,
    NotFound,
    PluginError,
    PvcError,
    SchemaError,
    Timeout,
    Unavailable,
    ZooKeeperUnavailable,
    error_class,
)
from pvc_lab.errors import LabError
from pvc_lab.processes import run

KEY = "unit-test-key"
DOCS = Path(__file__).resolve().parents[2] / "docs"

# one of each kind, as the core raises them (subclasses answer as their base)
FAILURES: list[PvcError] = [
    InvalidRequest("body.xml: Field required", "body.xml"),
    InvalidRequest("node hv4 is not a coordinator"),
    NotFound("no VM named 'web9' in this cluster"),
    Conflict("VM 1234's record kept changing; gave up after 20 attempts"),
    AlreadyExists("a VM named 'web1' already exists"),
    Busy("VM web1 is busy: migrate in progress on hv1 since 14:02:11; wait for it or retry later"),
    Timeout("timed out after 30s waiting for VM web1 (web1: migrate on hv1)"),
    Unavailable("the PVC API at http://10.0.0.1 did not answer in time"),
    ZooKeeperUnavailable("ZooKeeper did not answer get /nodes within 5s"),
    SchemaError("the cluster at 10.0.0.1:2181 is not initialised; run 'pvc cluster init'"),
    PluginError("plugin 'dns' failed in pvc_vm_defined: KeyError: 'zone'"),
]


def _id(failure: PvcError) -> str:
    return f"{type(failure).__name__}-{failure.http_status}"


class Stub:
    """A real API app whose ``GET /cluster`` raises whatever ``failure`` holds."""

    def __init__(self) -> None:
        self.failure: PvcError = PvcError("not set")
        registry = Registry()

        @registry.route("GET", "/cluster", "fails as the test says", "cluster", errors=(400, 404, 408, 409))
        def cluster_status(cluster: Any) -> Any:
            raise self.failure

        self.registry = registry
        self.app = create_app(None, KeyRing({"unit": hash_key(KEY, iterations=1)}), registry)  # type: ignore[arg-type]

    def client(self) -> FlaskClient:
        return self.app.test_client()


@pytest.fixture(scope="module")
def stub() -> Iterator[tuple[Stub, str]]:
    served = Stub()
    server = make_server("127.0.0.1", 0, served.app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="stub-api", daemon=True)
    thread.start()
    yield served, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join(timeout=10)


def test_each_kind_has_its_own_code_and_exit_status_apart_from_usage_and_interrupt() -> None:
    codes = [kind.code for kind in TAXONOMY]
    assert len(set(codes)) == len(codes)
    for kind in TAXONOMY:
        assert kind.exit_code not in (0, 2, 130), kind
        same = [other for other in TAXONOMY if other.exit_code == kind.exit_code]
        assert all(issubclass(a, b) or issubclass(b, a) for a in same for b in same), same


def test_the_documented_table_is_the_taxonomy() -> None:
    row = re.compile(r"^\| `(\w+)` \| `(\w+)` \| .* \| (\d{3}) \| (\d+) \|$")
    documented = [m.groups() for line in (DOCS / "cli.md").read_text().splitlines() if (m := row.match(line))]
    assert sorted(documented) == sorted(
        (kind.__name__, kind.code, str(kind.http_status), str(kind.exit_code)) for kind in TAXONOMY
    )


def test_subclasses_answer_as_their_base() -> None:
    from pvc_core.host import NotPrimary
    from pvc_core.vms.placement import NoPlacement
    from pvc_core.zk.session import Conflict as CompareAndSetFailed

    assert CompareAndSetFailed is Conflict and issubclass(AlreadyExists, Conflict)
    assert not issubclass(Busy, Conflict)  # compare-and-set retry loops catch Conflict; they must not swallow Busy
    for kind, base in ((NotPrimary, InvalidRequest), (NoPlacement, InvalidRequest), (LabError, PvcError)):
        assert (kind.code, kind.http_status, kind.exit_code) == (base.code, base.http_status, base.exit_code)


@pytest.mark.parametrize("failure", FAILURES, ids=_id)
def test_the_api_answers_each_kind_with_its_status_and_a_json_body(failure: PvcError) -> None:
    stub = Stub()
    stub.failure = failure
    response = stub.client().get("/api/v1/cluster", headers={"X-Api-Key": KEY, "X-Request-Id": "r-1"})
    assert response.status_code == type(failure).http_status
    assert response.get_json() == {
        "error": type(failure).code,
        "message": str(failure),
        "field": failure.field if isinstance(failure, InvalidRequest) else None,
        "request_id": "r-1",
    }


def test_the_openapi_document_declares_every_status_an_endpoint_may_answer() -> None:
    registry = Registry()
    registry.route("POST", "/vm/<name>/state", "long write", "vms", long=True)(lambda **_: None)
    registry.route("GET", "/vm", "read", "vms")(lambda **_: None)
    paths = document(registry)["paths"]
    long_write = set(paths["/api/v1/vm/{name}/state"]["post"]["responses"])
    read = set(paths["/api/v1/vm"]["get"]["responses"])
    assert {"400", "404", "408", "409", "500", "503"} <= long_write
    assert {"400", "404", "500", "503"} <= read and not {"408", "409"} & read


@pytest.mark.parametrize("failure", FAILURES, ids=_id)
def test_the_remote_client_rebuilds_the_exact_kind_from_the_body(stub: tuple[Stub, str], failure: PvcError) -> None:
    served, url = stub
    served.failure = failure
    with pytest.raises(PvcError) as caught:
        RemoteCluster(url, KEY).status()
    expected = next(kind for kind in TAXONOMY[::-1] if isinstance(failure, kind))
    assert type(caught.value) is expected
    assert str(caught.value) == str(failure)
    if isinstance(failure, InvalidRequest):
        assert isinstance(caught.value, InvalidRequest) and caught.value.field == failure.field


@pytest.mark.parametrize("failure", FAILURES, ids=_id)
def test_pvc_over_the_api_ends_each_kind_in_one_line_with_its_exit_status(
    stub: tuple[Stub, str], failure: PvcError, tmp_path: Path
) -> None:
    served, url = stub
    served.failure = failure
    env = {"PVC_CONFIG_DIR": str(tmp_path), "PVC_CONNECTION": url, "PVC_API_KEY": KEY}
    result = run_pvc("cluster", "status", env=env)
    assert result.returncode == type(failure).exit_code
    assert result.stderr == f"pvc: error: {failure}\n"


def test_an_answer_without_an_error_code_is_classed_by_its_status() -> None:
    assert error_class(None, 503) is Unavailable
    assert error_class(None, 404) is NotFound
    assert error_class(None, 502) is PvcError
    assert error_class("a_kind_from_a_newer_api", 409) is PvcError


def test_an_unreachable_api_is_unavailable(tmp_path: Path) -> None:
    env = {"PVC_CONFIG_DIR": str(tmp_path), "PVC_CONNECTION": "http://127.0.0.1:1", "PVC_API_KEY": KEY}
    result = run_pvc("node", "list", env=env)
    assert result.returncode == Unavailable.exit_code
    assert result.stderr.startswith("pvc: error: cannot reach the PVC API at http://127.0.0.1:1/api/v1")
    assert len(result.stderr.splitlines()) == 1


def test_a_failed_command_in_the_lab_is_one_lab_error_naming_it() -> None:
    with pytest.raises(LabError) as caught:
        run(["sh", "-c", "echo first >&2; echo the real reason >&2; exit 3"], 10)
    assert str(caught.value) == (
        "'sh -c echo first >&2; echo the real reason >&2; exit 3' failed (exit status 3): the real reason"
    )
    with pytest.raises(LabError, match="'no-such-tool-here' is not installed"):
        run(["no-such-tool-here"], 10)
    with pytest.raises(LabError, match=r"did not finish within 0\.2s"):
        run(["sleep", "5"], 0.2)


@pytest.mark.parametrize(
    "failure",
    [
        subprocess.CalledProcessError(1, ["ip", "link", "add", "br0"]),
        LabError("'ip link add br0 type bridge' failed (exit status 2): RTNETLINK answers: File exists"),
        Timeout("timed out after 90s waiting for 3 running nodes and a primary (hv1=run)"),
    ],
    ids=lambda failure: type(failure).__name__,
)
def test_pvc_lab_up_ends_a_failure_in_one_line(
    failure: Exception, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from pvc_lab.lab import Lab

    def up(self: Lab, progress: Any = None, timeout: float = 0) -> None:
        raise failure

    monkeypatch.setattr(Lab, "up", up)
    with pytest.raises(SystemExit) as exited:
        main(["lab", "up", "--state-dir", str(tmp_path)])
    assert exited.value.code == LabError.exit_code
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("pvc: error: lab up failed: "), lines
    assert lines[0].endswith("(clean up with 'pvc lab down')")
