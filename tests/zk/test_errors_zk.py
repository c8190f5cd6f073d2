"""Each kind of error, caused for real on a real cluster, through the real API (its status and JSON body)
and the real ``pvc`` over both transports (one line, no traceback, the exit status docs/cli.md gives it).
A compare-and-set that keeps losing (``Conflict``) cannot be caused on demand: tests/unit/test_errors.py
drives it, with every other kind, through the same API and ``pvc``."""

from __future__ import annotations

import signal
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from api_support import KEY, Api, start_api, stop_api
from support import Nodes, domain_xml, run_pvc, wait_until

from pvc_core.client import Cluster
from pvc_core.errors import AlreadyExists, Busy, InvalidRequest, NotFound, PvcError, Timeout, Unavailable
from pvc_core.testing import ZooKeeper
from pvc_core.zk.session import ZkSession


@pytest.fixture
def transports(api: Api, running: Cluster, tmp_path: Path) -> dict[str, dict[str, str]]:
    base = {"PVC_CONFIG_DIR": str(tmp_path / "config")}
    return {
        "zookeeper": base | {"PVC_CONNECTION": running.zk.hosts},
        "api": base | {"PVC_CONNECTION": api.url.removesuffix("/api/v1"), "PVC_API_KEY": KEY},
    }


def fails_as(kind: type[PvcError], message: str, *command: str, env: dict[str, str]) -> None:
    """``pvc COMMAND`` ends in exactly ``pvc: error: MESSAGE`` and the exit status of ``kind``."""
    result = run_pvc(*command, env=env)
    assert (result.returncode, result.stderr) == (kind.exit_code, f"pvc: error: {message}\n"), result


def answers_as(kind: type[PvcError], answer: tuple[int, Any, dict[str, str]], field: str | None = None) -> str:
    """The API answered ``kind``'s status and body; its message."""
    status, body, headers = answer
    assert status == kind.http_status, body
    assert body == {
        "error": kind.code,
        "message": body["message"],
        "field": field,
        "request_id": headers["X-Request-Id"],
    }
    return str(body["message"])


def settled(cluster: Cluster, name: str) -> None:
    wait_until(lambda: cluster.vms.get(name).operation is None, what=f"VM {name} to settle")


def paused(nodes: Nodes, name: str) -> Any:
    """The node's pvcd stopped (SIGSTOP): it holds the operations it took and settles none. Keep it short:
    its ZooKeeper session (2 s) must outlive the pause, or the node counts as dead."""
    node = next(n for n in nodes.started if n.name == name)

    class Paused:
        def __enter__(self) -> None:
            node.signal(signal.SIGSTOP)

        def __exit__(self, *exc: object) -> None:
            node.signal(signal.SIGCONT)

    return Paused()


def test_a_missing_vm_is_not_found(api: Api, transports: dict[str, dict[str, str]]) -> None:
    message = answers_as(NotFound, api.call("GET", "/vm/web9"))
    assert message == "no VM named 'web9' in this cluster"
    for env in transports.values():
        fails_as(NotFound, message, "vm", "info", "web9", env=env)


def test_a_bad_request_is_invalid_and_names_its_field(
    api: Api, transports: dict[str, dict[str, str]], tmp_path: Path
) -> None:
    answers_as(InvalidRequest, api.call("POST", "/vm", {"xml": domain_xml("web"), "autostart": "often"}), "autostart")
    bad = tmp_path / "bad.xml"
    bad.write_text("<domain>")
    message = answers_as(InvalidRequest, api.call("POST", "/vm", {"xml": "<domain>"}))
    for env in transports.values():
        fails_as(InvalidRequest, message, "vm", "define", str(bad), env=env)


def test_defining_a_vm_twice_is_already_exists(
    api: Api, running: Cluster, transports: dict[str, dict[str, str]], tmp_path: Path
) -> None:
    running.vms.define(domain_xml("web"))
    xml = tmp_path / "web.xml"
    xml.write_text(domain_xml("web"))
    message = answers_as(AlreadyExists, api.call("POST", "/vm", {"xml": domain_xml("web")}))
    assert message == "a VM named 'web' already exists"
    for env in transports.values():
        fails_as(AlreadyExists, message, "vm", "define", str(xml), env=env)


# the ways in: the API itself, and pvc over each transport; one VM each, since a VM stays busy only while
# its node is paused, and a pause must stay short
WAYS = ("http", "zookeeper", "api")


def test_a_second_operation_on_a_busy_vm_is_busy(
    api: Api, running: Cluster, nodes: Nodes, transports: dict[str, dict[str, str]]
) -> None:
    for way in WAYS:
        name = f"busy-{way}"
        running.vms.define(domain_xml(name), target="hv2")
        with paused(nodes, "hv2"):
            running.vms.start(name)
            if way == "http":
                message = answers_as(Busy, api.call("POST", f"/vm/{name}/state", {"state": "stop"}))
            else:
                result = run_pvc("vm", "stop", name, env=transports[way])
        settled(running, name)
        if way == "http":
            assert message.startswith(f"VM {name} is busy: start in progress on hv2 since ")
        else:
            assert result.returncode == Busy.exit_code, result
            assert result.stderr.startswith(f"pvc: error: VM {name} is busy: start in progress on hv2 since ")
            assert len(result.stderr.splitlines()) == 1


def test_a_wait_that_runs_out_of_time_is_a_timeout(
    api: Api, running: Cluster, nodes: Nodes, transports: dict[str, dict[str, str]]
) -> None:
    for way in WAYS:
        name = f"slow-{way}"
        running.vms.define(domain_xml(name), target="hv2")
        with paused(nodes, "hv2"):
            if way == "http":
                answer = api.call("POST", f"/vm/{name}/state", {"state": "start", "wait": True, "timeout": 0.3})
            else:
                result = run_pvc("vm", "start", name, "--wait", "--timeout", "0.3", env=transports[way])
        settled(running, name)
        if way == "http":
            assert answers_as(Timeout, answer).startswith(f"timed out after 0.3s waiting for VM {name} (")
        else:
            assert result.returncode == Timeout.exit_code, result
            *progress, last = result.stderr.splitlines()  # --wait shows progress lines, then the error
            assert last.startswith(f"pvc: error: timed out after 0.3s waiting for VM {name} (")
            assert all(line.startswith("  ") for line in progress), result.stderr


@pytest.fixture
def lone_zookeeper(tmp_path: Path) -> Iterator[ZooKeeper]:
    """A ZooKeeper of this test's own, to take away from a running pvcapid."""
    server = ZooKeeper(tmp_path / "zookeeper", size=1, base_port=25810)
    server.start()
    yield server
    server.stop()


def test_a_cluster_out_of_reach_is_unavailable(lone_zookeeper: ZooKeeper, tmp_path: Path) -> None:
    chroot = f"/pvcerr-{uuid.uuid4().hex[:8]}"
    admin = ZkSession(lone_zookeeper.hosts)
    admin.start()
    admin.ensure(chroot)
    admin.stop()
    hosts = f"{lone_zookeeper.hosts}{chroot}"
    with Cluster.connect(hosts) as cluster:
        cluster.init()
    process, port = start_api(tmp_path, hosts)
    try:
        api = Api(f"http://127.0.0.1:{port}/api/v1")
        assert api.call("GET", "/node")[0] == 200
        lone_zookeeper.stop()
        status, body, _ = api.call("GET", "/node")
        assert (status, body["error"]) == (Unavailable.http_status, Unavailable.code), body
        over_api = {"PVC_CONFIG_DIR": str(tmp_path / "config"), "PVC_CONNECTION": f"http://127.0.0.1:{port}"}
        # pvc waits longer than pvcapid's own ZooKeeper bound (10 s), so it hears pvcapid's answer
        result = run_pvc("node", "list", env=over_api | {"PVC_API_KEY": KEY, "PVC_TIMEOUT": "30"})
        assert (result.returncode, result.stderr) == (Unavailable.exit_code, f"pvc: error: {body['message']}\n")
    finally:
        stop_api(process)
    direct = run_pvc("-c", hosts, "node", "list", env={"PVC_CONFIG_DIR": str(tmp_path / "config"), "PVC_TIMEOUT": "1"})
    assert direct.returncode == Unavailable.exit_code
    assert direct.stderr == f"pvc: error: cannot reach ZooKeeper at {hosts} within 1s\n"
    unreachable = run_pvc("node", "list", env=over_api | {"PVC_CONNECTION": "http://127.0.0.1:1", "PVC_API_KEY": KEY})
    assert unreachable.returncode == Unavailable.exit_code
    assert unreachable.stderr.startswith("pvc: error: cannot reach the PVC API at http://127.0.0.1:1/api/v1: ")
