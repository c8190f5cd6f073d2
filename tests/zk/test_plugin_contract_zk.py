"""What a plugin outside pvcd gets through the contract, on a real ZooKeeper and a real pvcapid: its ``pvc``
command (docs/plugins.md's example) works the same over ZooKeeper and over the API, its data is the same
through either client, and its API route answers from the ApiContext pvcapid passed it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import KEY, Api, start_api, stop_api
from support import run_pvc

from pvc_cli.remote import RemoteCluster
from pvc_core.client import Cluster, ClusterClient
from pvc_core.errors import InvalidRequest


@pytest.fixture
def api_url(tmp_path: Path, zk_hosts: str) -> Iterator[str]:
    process, port = start_api(tmp_path, zk_hosts, plugins=["template"], sections={"template": {"greeting": "hi"}})
    yield f"http://127.0.0.1:{port}"
    stop_api(process)


def test_the_documented_cli_example_prints_the_same_over_both_transports(
    zk_hosts: str, api_url: str, cluster: Cluster, tmp_path: Path
) -> None:
    env = {"PVC_CONFIG_DIR": str(tmp_path / "config"), "PVC_API_KEY": KEY}

    def pvc(connection: str, *args: str) -> tuple[int, str, str]:
        result = run_pvc("-c", connection, "testplugin", *args, env=env)
        return result.returncode, result.stdout, result.stderr

    assert pvc(zk_hosts, "status") == pvc(api_url, "status") == (0, "null\n", "")
    assert pvc(api_url, "pause", "disk swap") == (0, "paused; keys: status\n", "")
    expected = (0, '{"paused": true, "reason": "disk swap"}\n', "")
    assert pvc(zk_hosts, "status") == pvc(api_url, "status") == expected
    # stored as compact JSON under the plugin's own subtree
    assert cluster.zk.get("/plugins/testplugin/status")[0] == b'{"paused":true,"reason":"disk swap"}'  # type: ignore[index]
    assert pvc(zk_hosts, "pause", "done") == (0, "paused; keys: status\n", "")
    assert pvc(api_url, "status")[1] == '{"paused": true, "reason": "done"}\n'


def test_plugin_data_is_the_same_through_either_client(api_url: str, cluster: Cluster) -> None:
    remote = RemoteCluster(api_url, KEY)
    clients: list[ClusterClient] = [cluster, remote]
    for writer in clients:
        for reader in clients:
            data, seen = writer.plugin_data("acme"), reader.plugin_data("acme")
            data.set("volumes/vol1", {"size": 10})
            data.set("status", "ok")
            data.set("nothing", None)
            assert seen.get("volumes/vol1") == {"size": 10} and seen.get("status") == "ok"
            assert seen.children() == ["nothing", "status", "volumes"] and seen.children("volumes") == ["vol1"]
            assert seen.get("nothing") is None and seen.get("missing") is None
            data.delete("volumes")  # with what is under it
            data.delete("volumes")  # gone already: nothing happens
            assert seen.children() == ["nothing", "status"] and seen.get("volumes/vol1") is None
            for key in ("status", "nothing"):
                data.delete(key)
    assert cluster.plugin_data("other").children() == []  # one plugin's data is not another's


def test_the_api_tells_a_stored_null_from_no_value(api_url: str, cluster: Cluster) -> None:
    api = Api(f"{api_url}/api/v1")
    cluster.plugin_data("acme").set("nothing", None)
    assert api.call("GET", "/plugin-data/acme/nothing")[:2] == (
        200,
        {"plugin": "acme", "key": "nothing", "value": None},
    )
    status, body, _ = api.call("GET", "/plugin-data/acme/missing")
    assert (status, body["error"], body["message"]) == (404, "not_found", "plugin acme has no data at key 'missing'")
    status, body, _ = api.call("PUT", "/plugin-data/acme/a%2F..%2Fb", {"value": 1})
    assert (status, body["error"], body["field"]) == (400, "invalid_request", "key")
    assert body["message"] == "key 'a/../b' has an empty, '.' or '..' segment"


def test_a_bad_key_is_refused_the_same_way_over_both_transports(api_url: str, cluster: Cluster) -> None:
    messages = []
    for client in (cluster, RemoteCluster(api_url, KEY)):
        with pytest.raises(InvalidRequest) as raised:
            client.plugin_data("acme").set("/etc/passwd", 1)
        messages.append(str(raised.value))
    assert messages == ["key '/etc/passwd' is absolute; give a path relative to the plugin's data"] * 2


def test_the_template_route_answers_from_its_api_context(api_url: str) -> None:
    api = Api(f"{api_url}/api/v1")
    # the greeting from pvcapid.yaml's template section, the node count from pvcapid's cluster client
    assert api.call("GET", "/plugins/template/hello")[:2] == (200, {"greeting": "hi", "nodes": 0})
    document = api.call("GET", "/openapi.json")[1]
    operation = document["paths"]["/api/v1/plugins/template/hello"]["get"]
    assert operation["summary"] == "The template's greeting, and how many nodes the cluster has."
    assert json.dumps(operation["security"]) == '[{"ApiKey": []}]'
